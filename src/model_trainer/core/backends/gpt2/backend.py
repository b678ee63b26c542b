"""GPT-2 as the core needs it: its builder, its cached sampling, its save and load."""

from __future__ import annotations

from model_trainer.core.backends.adapter import (
    BackendFunctions,
    create_backend,
    evaluator,
    family_shape,
    fresh_model,
    same_config,
)
from model_trainer.core.backends.gpt2 import CAPABILITIES, GPT2_SIZES, GPT2Shape
from model_trainer.core.backends.gpt2.config import build_gpt2_config
from model_trainer.core.backends.gpt2.io import load_gpt2, save_gpt2
from model_trainer.core.backends.gpt2.limits import check_gpt2_size, training_memory
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GenerateOutcome,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.inference.batched import forward_batch
from model_trainer.core.inference.generate import generate_cached
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.score import score_windowed
from model_trainer.core.training.device import available_device
from model_trainer.core.training.loop import run_training


def build_gpt2(shape: GPT2Shape, cfg: ModelTrainConfig, tokenizer: TokenizerHandle) -> GPT2LM:
    """A fresh GPT-2 of ``shape``: the tokenizer's vocabulary, ``max_seq_len`` positions.

    Raises:
        ModelTrainerError: ``check_gpt2_size``'s errors, before anything is allocated.
    """
    check_gpt2_size(
        shape,
        max_seq_len=cfg["max_seq_len"],
        vocab_size=tokenizer.vocab_size,
        model_size=cfg["model_size"],
        memory=training_memory(available_device(cfg["device"])),
    )
    config = build_gpt2_config(
        shape,
        vocab_size=tokenizer.vocab_size,
        n_positions=cfg["max_seq_len"],
        eos_id=tokenizer.eos_id,
    )
    return GPT2LM.from_config(config)


def prepare_gpt2(
    cfg: ModelTrainConfig, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """A fresh GPT-2 of ``cfg``'s size (``build_gpt2``)."""
    del settings
    shape = family_shape(cfg, GPT2_SIZES)
    return fresh_model(cfg, tokenizer, lambda: build_gpt2(shape, cfg, tokenizer))


def score_gpt2(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> ScoreOutcome:
    """Score ``cfg``'s text with windows of ``prepared["max_seq_len"]`` positions.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``GPT2LM``; the
            errors of ``score_windowed`` for bad input.
    """
    return score_windowed(model_as(prepared, GPT2LM), prepared, cfg, settings)


def generate_gpt2(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample continuations with the key/value cache, calling ``on_token`` for each token.

    A prompt too long for the context is cut from the front (``prompt_truncated``), and a
    sequence that fills the context stops with ``context_full``.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``GPT2LM``; the
            errors of ``generate_cached`` for bad input.
    """
    return generate_cached(
        model_as(prepared, GPT2LM),
        prepared,
        cfg,
        settings,
        context_len=prepared["max_seq_len"],
        on_token=on_token,
    )


GPT2_BACKEND_FUNCS: BackendFunctions[ModelTrainConfig] = {
    "name": "gpt2",
    "capabilities": CAPABILITIES,
    "convert_config": same_config,
    "prepare": prepare_gpt2,
    "train": run_training,
    "evaluate": evaluator(load_gpt2),
    "score": score_gpt2,
    "score_batch": forward_batch,
    "generate": generate_gpt2,
    "stream": generate_gpt2,
    "save": save_gpt2,
    "load": load_gpt2,
}

gpt2_backend = create_backend(GPT2_BACKEND_FUNCS)

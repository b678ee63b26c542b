"""Pretrained causal LMs as the core needs them: load, score, sample with the cache, fine-tune.

``build`` is the pretrained start of a run (``init_from``): the checkpoint's weights in fp32
(the base in bf16 under LoRA on a bf16 device), gradient checkpointing and LoRA adapters
when asked. The run's ``model/`` folder is a Hugging Face folder (LoRA merged, the adapters
in ``model/adapter``).
"""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.backends.adapter import (
    BackendFunctions,
    create_backend,
    evaluator,
    family_shape,
    fresh_model,
    same_config,
)
from model_trainer.core.backends.artifact import artifact_meta
from model_trainer.core.backends.hf_causal_lm import CAPABILITIES, FAMILY, SIZES
from model_trainer.core.backends.hf_causal_lm.io import load_pretrained, save_pretrained_model
from model_trainer.core.backends.hf_causal_lm.lora import add_lora, merge_lora, require_peft
from model_trainer.core.backends.hf_causal_lm.model import HFCausalLM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GenerateOutcome,
    LoadOptions,
    ModelArtifact,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.batched import forward_batch
from model_trainer.core.inference.generate import generate_cached
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.score import score_windowed
from model_trainer.core.training.device import available_device, resolve_precision
from model_trainer.core.training.loop import run_training


def build_pretrained(cfg: ModelTrainConfig, tokenizer: TokenizerHandle) -> HFCausalLM:
    """The model ``cfg["init_from"]`` names, ready to fine-tune with ``tokenizer``.

    Raises:
        ModelTrainerError: the errors of ``load_pretrained``; ``MODEL_INCOMPATIBLE`` when
            ``tokenizer`` is not the model's; ``INVALID_CONFIG`` when ``max_seq_len`` is
            beyond the model's context or LoRA is asked for without ``peft``.
    """
    if cfg["lora_rank"] > 0:
        require_peft()
    device = available_device(cfg["device"])
    lora_bf16 = cfg["lora_rank"] > 0 and resolve_precision(cfg["precision"], device) == "bf16"
    prepared = load_pretrained(
        cfg["init_from"],
        device="cpu",
        dtype="bf16" if lora_bf16 else "fp32",
        max_seq_len=cfg["max_seq_len"],
    )
    if prepared["tokenizer_id"] != tokenizer.tokenizer_id:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"init_from: the tokenizer given ({tokenizer.tokenizer_id}) is not the one of "
            f"{cfg['init_from']!r} ({prepared['tokenizer_id']})",
        )
    model = model_as(prepared, HFCausalLM)
    if cfg["gradient_checkpointing"]:
        model.gradient_checkpointing()
    if cfg["lora_rank"] > 0:
        add_lora(model, cfg["lora_rank"])
    return model


def prepare_pretrained(
    cfg: ModelTrainConfig, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """The pretrained start of a run (``build_pretrained``), read after the model's BOS.

    Raises:
        ModelTrainerError: the errors of ``build_pretrained``.
    """
    del settings
    family_shape(cfg, SIZES)
    prepared = fresh_model(cfg, tokenizer, lambda: build_pretrained(cfg, tokenizer))
    return {**prepared, "start_id": model_as(prepared, HFCausalLM).start_id}


def load_source(source: str, options: LoadOptions) -> PreparedLMModel:
    """Load ``source`` (a folder, or a model id in the HF cache) as ``options`` say."""
    return load_pretrained(source, **options)


def save_pretrained(prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
    """Write ``prepared`` as a Hugging Face folder; LoRA adapters saved, then merged."""
    model = model_as(prepared, HFCausalLM)
    if model.adapters:
        merge_lora(model, Path(out_dir))
    return save_pretrained_model(prepared, out_dir, meta={**artifact_meta(prepared)})


def load_saved(
    artifact_path: str, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """Read a Hugging Face folder (a run's ``model/``) onto the fastest device present.

    ``tokenizer`` is the folder's own (``read_model_tokenizer``); ``settings`` is part of
    the backend signature, nothing here depends on it.

    Raises:
        ModelTrainerError: the errors of ``load_pretrained``.
    """
    del settings
    return load_pretrained(artifact_path, tokenizer=tokenizer)


def score_pretrained(
    prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
) -> ScoreOutcome:
    """Score ``cfg``'s text after the model's BOS, in windows of its context.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not an ``HFCausalLM``;
            the errors of ``score_windowed`` for bad input.
    """
    return score_windowed(model_as(prepared, HFCausalLM), prepared, cfg, settings)


def generate_pretrained(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample continuations with the model's own key/value cache.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not an ``HFCausalLM``;
            the errors of ``generate_cached`` for bad input.
    """
    return generate_cached(
        model_as(prepared, HFCausalLM),
        prepared,
        cfg,
        settings,
        context_len=prepared["max_seq_len"],
        on_token=on_token,
    )


HF_CAUSAL_LM_BACKEND_FUNCS: BackendFunctions[ModelTrainConfig] = {
    "name": FAMILY,
    "capabilities": CAPABILITIES,
    "convert_config": same_config,
    "prepare": prepare_pretrained,
    "train": run_training,
    "evaluate": evaluator(load_saved),
    "score": score_pretrained,
    "score_batch": forward_batch,
    "generate": generate_pretrained,
    "stream": generate_pretrained,
    "save": save_pretrained,
    "load": load_saved,
    "load_source": load_source,
}

hf_causal_lm_backend = create_backend(HF_CAUSAL_LM_BACKEND_FUNCS)

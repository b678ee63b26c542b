"""Build a fresh GPT-2 around a tokenizer."""

from __future__ import annotations

import torch

from model_trainer.core.backends.artifact import new_meta, prepared_model
from model_trainer.core.backends.gpt2.config import GPT2TrainConfig, build_gpt2_config
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.training.device import available_device


def prepare_gpt2(
    cfg: GPT2TrainConfig, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """A GPT-2 of ``cfg["shape"]`` seeded with ``cfg``'s seed, on ``cfg``'s device.

    Its vocabulary is the tokenizer's; its context is ``max_seq_len`` positions.
    ``settings`` is part of the backend signature; nothing here depends on it.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` for a tokenizer of another kind than
            ``tokenizer_kind``; ``CUDA_NOT_AVAILABLE`` for a device the machine lacks.
    """
    del settings
    train = cfg["train"]
    meta = new_meta(train, tokenizer)
    device = available_device(train["device"])
    config = build_gpt2_config(
        cfg["shape"],
        vocab_size=tokenizer.vocab_size,
        n_positions=train["max_seq_len"],
        eos_id=tokenizer.eos_id,
    )
    torch.manual_seed(train["seed"])
    model = GPT2LM.from_config(config).to(device)
    return prepared_model(model=model, meta=meta, tokenizer=tokenizer, device=device)

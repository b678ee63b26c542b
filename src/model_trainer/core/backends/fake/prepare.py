"""Build a fresh fake model around a tokenizer."""

from __future__ import annotations

from typing import TypedDict

import torch

from model_trainer.core.backends.artifact import new_meta, prepared_model
from model_trainer.core.backends.fake.model import FakeLM, FakeShape, fake_shape
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.training.device import available_device


class FakeTrainConfig(TypedDict):
    """A training config with the shape its ``model_size`` names."""

    shape: FakeShape
    train: ModelTrainConfig


def convert_fake_config(cfg: ModelTrainConfig) -> FakeTrainConfig:
    """Attach the shape of ``cfg["model_size"]`` to ``cfg``."""
    return {"shape": fake_shape(cfg["model_size"]), "train": cfg}


def prepare_fake(
    cfg: FakeTrainConfig, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """A fake model of ``cfg["shape"]`` seeded with ``cfg``'s seed, on ``cfg``'s device.

    ``settings`` is part of the backend signature; nothing here depends on it.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` for a tokenizer of another kind than
            ``tokenizer_kind``; ``CUDA_NOT_AVAILABLE`` for a device the machine lacks.
    """
    del settings
    train = cfg["train"]
    meta = new_meta(train, tokenizer)
    device = available_device(train["device"])
    torch.manual_seed(train["seed"])
    model = FakeLM(cfg["shape"], tokenizer.vocab_size).to(device)
    return prepared_model(model=model, meta=meta, tokenizer=tokenizer, device=device)

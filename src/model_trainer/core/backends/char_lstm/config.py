"""Char-LSTM shapes by size name."""

from __future__ import annotations

from typing import TypedDict

from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.errors import ModelTrainerError


class LSTMShape(TypedDict):
    """Embedding width, hidden width and depth of a char-LSTM."""

    embed_dim: int
    hidden_dim: int
    num_layers: int


class CharLSTMTrainConfig(TypedDict):
    """A training config with the shape its ``model_size`` names."""

    shape: LSTMShape
    train: ModelTrainConfig


CHAR_LSTM_SIZES: dict[str, LSTMShape] = {
    "tiny": {"embed_dim": 32, "hidden_dim": 64, "num_layers": 2},
    "small": {"embed_dim": 128, "hidden_dim": 256, "num_layers": 2},
    "medium": {"embed_dim": 256, "hidden_dim": 512, "num_layers": 2},
    "large": {"embed_dim": 512, "hidden_dim": 1024, "num_layers": 3},
}


def size_shape(size: str) -> LSTMShape:
    """The shape of char-LSTM size ``size``.

    Raises:
        ModelTrainerError: ``INVALID_MODEL_SIZE`` listing the valid sizes.
    """
    if size not in CHAR_LSTM_SIZES:
        raise ModelTrainerError(
            "INVALID_MODEL_SIZE",
            f"model_size {size!r} is not a char_lstm size; valid: {', '.join(CHAR_LSTM_SIZES)}",
        )
    return CHAR_LSTM_SIZES[size]


def convert_char_lstm_config(cfg: ModelTrainConfig) -> CharLSTMTrainConfig:
    """Attach the shape of ``cfg["model_size"]`` to ``cfg``."""
    return {"shape": size_shape(cfg["model_size"]), "train": cfg}

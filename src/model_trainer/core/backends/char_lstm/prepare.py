"""Build a fresh char-LSTM around a tokenizer."""

from __future__ import annotations

import torch

from model_trainer.core.backends.artifact import new_meta, prepared_model
from model_trainer.core.backends.char_lstm.config import CharLSTMTrainConfig
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.training.device import available_device


def prepare_char_lstm(
    cfg: CharLSTMTrainConfig, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """A char-LSTM of ``cfg["shape"]`` seeded with ``cfg``'s seed, on ``cfg``'s device.

    Its vocabulary is the tokenizer's. ``settings`` is part of the backend signature;
    nothing here depends on it.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` for a tokenizer of another kind than
            ``tokenizer_kind``; ``CUDA_NOT_AVAILABLE`` for a device the machine lacks.
    """
    del settings
    train = cfg["train"]
    meta = new_meta(train, tokenizer)
    device = available_device(train["device"])
    torch.manual_seed(train["seed"])
    model = CharLSTM(cfg["shape"], tokenizer.vocab_size).to(device)
    return prepared_model(model=model, meta=meta, tokenizer=tokenizer, device=device)

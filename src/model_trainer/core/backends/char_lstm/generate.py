"""Sample from the char-LSTM, carrying its state; it has no context limit."""

from __future__ import annotations

from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import GenerateConfig, GenerateOutcome, PreparedLMModel
from model_trainer.core.inference.generate import TokenCallback, generate_cached
from model_trainer.core.inference.narrow import model_as


def stream_char_lstm(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None,
) -> GenerateOutcome:
    """``generate_char_lstm`` calling ``on_token`` for every sampled token."""
    return generate_cached(
        model_as(prepared, CharLSTM), prepared, cfg, settings, context_len=None, on_token=on_token
    )


def generate_char_lstm(
    prepared: PreparedLMModel, cfg: GenerateConfig, settings: Settings
) -> GenerateOutcome:
    """Sample continuations one character a step from the carried ``(h, c)`` state.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``CharLSTM``; the
            errors of ``generate_cached`` for bad input.
    """
    return stream_char_lstm(prepared, cfg, settings, on_token=None)

"""Score a text with the char-LSTM: chunks read in order, the state carried across them."""

from __future__ import annotations

from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import PreparedLMModel, ScoreConfig, ScoreOutcome
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.score import score_stateful


def score_char_lstm(
    prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
) -> ScoreOutcome:
    """Score ``cfg``'s text whole, however long, in one pass of carried state.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``CharLSTM``; the
            errors of ``score_stateful`` for bad input.
    """
    return score_stateful(model_as(prepared, CharLSTM), prepared, cfg, settings)

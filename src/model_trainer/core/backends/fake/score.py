"""Score a text with the fake model: the generic sliding windows of a forward-only model."""

from __future__ import annotations

from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import PreparedLMModel, ScoreConfig, ScoreOutcome
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.score import score_windowed


def score_fake(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> ScoreOutcome:
    """Score ``cfg``'s text with windows of ``prepared["max_seq_len"]`` positions.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``FakeLM``; the
            errors of ``score_windowed`` for bad input.
    """
    return score_windowed(model_as(prepared, FakeLM), prepared, cfg, settings)

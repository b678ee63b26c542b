"""Score a text with GPT-2: sliding windows of its context, batched forward passes."""

from __future__ import annotations

from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import PreparedLMModel, ScoreConfig, ScoreOutcome
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.score import score_windowed


def score_gpt2(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> ScoreOutcome:
    """Score ``cfg``'s text with windows of ``prepared["max_seq_len"]`` positions.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``GPT2LM``; the
            errors of ``score_windowed`` for bad input.
    """
    return score_windowed(model_as(prepared, GPT2LM), prepared, cfg, settings)

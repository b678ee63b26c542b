"""Score and sample with any forward-only model: token ids ``(B, T)`` in, logits out.

They know no architecture: the model's context is ``prepared["max_seq_len"]`` positions,
texts are scored in sliding windows of it, and each sampled token runs the whole sequence
again. A family without faster ones of its own names these in its ``BackendFunctions`` table.
"""

from __future__ import annotations

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GenerateOutcome,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
)
from model_trainer.core.inference.generate import generate_naive
from model_trainer.core.inference.score import score_windowed


def score_forward_only(
    prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
) -> ScoreOutcome:
    """Score ``cfg``'s text in windows of ``prepared["max_seq_len"]`` positions.

    Raises:
        ModelTrainerError: the errors of ``score_windowed`` for bad input.
    """
    return score_windowed(prepared["model"], prepared, cfg, settings)


def generate_forward_only(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample continuations, the sequence bounded by ``prepared["max_seq_len"]`` positions.

    A prompt too long for the context is cut from the front (``prompt_truncated``), and a
    sequence that fills the context stops with ``context_full``.

    Raises:
        ModelTrainerError: the errors of ``generate_naive`` for bad input.
    """
    return generate_naive(
        prepared["model"],
        prepared,
        cfg,
        settings,
        context_len=prepared["max_seq_len"],
        on_token=on_token,
    )

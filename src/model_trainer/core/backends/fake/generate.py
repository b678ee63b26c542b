"""Sample from the fake model with the naive loop: the whole sequence again for each token."""

from __future__ import annotations

from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import GenerateConfig, GenerateOutcome, PreparedLMModel
from model_trainer.core.inference.generate import TokenCallback, generate_naive
from model_trainer.core.inference.narrow import model_as


def stream_fake(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None,
) -> GenerateOutcome:
    """``generate_fake`` calling ``on_token`` for every sampled token."""
    return generate_naive(
        model_as(prepared, FakeLM),
        prepared,
        cfg,
        settings,
        context_len=prepared["max_seq_len"],
        on_token=on_token,
    )


def generate_fake(
    prepared: PreparedLMModel, cfg: GenerateConfig, settings: Settings
) -> GenerateOutcome:
    """Sample continuations, the sequence bounded by ``prepared["max_seq_len"]`` positions.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``FakeLM``; the
            errors of ``generate_naive`` for bad input.
    """
    return stream_fake(prepared, cfg, settings, on_token=None)

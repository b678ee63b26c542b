"""Sample from GPT-2 with its key/value cache; the context is ``max_seq_len`` positions."""

from __future__ import annotations

from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import GenerateConfig, GenerateOutcome, PreparedLMModel
from model_trainer.core.inference.generate import TokenCallback, generate_cached
from model_trainer.core.inference.narrow import model_as


def stream_gpt2(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None,
) -> GenerateOutcome:
    """``generate_gpt2`` calling ``on_token`` for every sampled token."""
    return generate_cached(
        model_as(prepared, GPT2LM),
        prepared,
        cfg,
        settings,
        context_len=prepared["max_seq_len"],
        on_token=on_token,
    )


def generate_gpt2(
    prepared: PreparedLMModel, cfg: GenerateConfig, settings: Settings
) -> GenerateOutcome:
    """Sample continuations with the key/value cache.

    A prompt too long for the context is cut from the front (``prompt_truncated``), and a
    sequence that fills the context stops with ``context_full``.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``GPT2LM``; the
            errors of ``generate_cached`` for bad input.
    """
    return stream_gpt2(prepared, cfg, settings, on_token=None)

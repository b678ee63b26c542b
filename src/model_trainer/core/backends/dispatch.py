"""Score and sample with a prepared model through its family's backend, from the registry.

Each is a boundary: the config is validated here, once. ``prepared["model_family"]`` names
the family; the registry refuses a family without the capability, and otherwise the
family's own functions run (GPT-2 with its key/value cache, the char-LSTM with its state,
the fake model with the shared forward-only ones). ``generate`` takes
``on_token(sequence_index, token_text, prob)`` to stream each sampled token.
"""

from __future__ import annotations

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GenerateOutcome,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
)
from model_trainer.core.contracts.validators import validate_generate_config, validate_score_config


def score(
    prepared: PreparedLMModel,
    cfg: ScoreConfig,
    settings: Settings,
    *,
    registry: ModelRegistry = default_registry,
) -> ScoreOutcome:
    """Score ``cfg``'s text with ``prepared`` (see ``inference/score.py`` for the figures).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (a family ``registry`` does not know),
            ``MODEL_INCOMPATIBLE`` (a family without ``supports_score``), the family's errors.
    """
    validate_score_config(cfg)
    family = prepared["model_family"]
    registry.require(family, "supports_score")
    return registry.get(family).score(prepared=prepared, cfg=cfg, settings=settings)


def generate(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None = None,
    registry: ModelRegistry = default_registry,
) -> GenerateOutcome:
    """Sample continuations of ``cfg``'s prompt, calling ``on_token`` for each new token.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (a family ``registry`` does not know),
            ``MODEL_INCOMPATIBLE`` (a family without ``supports_generate``), the family's
            errors.
    """
    validate_generate_config(cfg)
    family = prepared["model_family"]
    registry.require(family, "supports_generate")
    backend = registry.get(family)
    return backend.generate(prepared=prepared, cfg=cfg, settings=settings, on_token=on_token)

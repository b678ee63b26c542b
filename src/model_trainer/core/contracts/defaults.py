"""Configs with defaults that work on the embedded corpus, built from keywords or JSON.

Each builder is its config's schema (``core/contracts/schema.py``) read strictly, then
validated: a bad field raises ``ModelTrainerError`` naming the field and the value.
"""

from __future__ import annotations

from collections.abc import Mapping

from model_trainer.core.contracts.model import GenerateConfig, ModelTrainConfig, ScoreConfig
from model_trainer.core.contracts.schema import (
    BUILTIN_CORPUS,
    generate_overlay,
    score_overlay,
    train_overlay,
)
from model_trainer.core.contracts.typed_json import load_json
from model_trainer.core.contracts.validators import (
    validate_generate_config,
    validate_model_train_config,
    validate_score_config,
)
from model_trainer.core.errors import ModelTrainerError

__all__ = [
    "BUILTIN_CORPUS",
    "generate_config",
    "score_config",
    "train_config",
    "train_config_from_json",
    "train_config_from_mapping",
]


def train_config(**fields: object) -> ModelTrainConfig:
    """A validated training config: the schema's defaults with ``fields`` over them."""
    return train_config_from_mapping(fields, where="train_config")


def train_config_from_mapping(
    data: Mapping[str, object], base: ModelTrainConfig | None = None, *, where: str = "config"
) -> ModelTrainConfig:
    """Overlay ``data`` (e.g. parsed JSON) on ``base`` (default: the defaults), strictly.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``where``, the field and the value for
            an unknown field, a value of the wrong type or one the validator rejects.
    """
    cfg = train_overlay(data, base, where=where)
    validate_model_train_config(cfg)
    return cfg


def train_config_from_json(
    text: str, base: ModelTrainConfig | None = None, *, where: str = "config"
) -> ModelTrainConfig:
    """Parse a JSON object of ``ModelTrainConfig`` fields over ``base``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``where`` when ``text`` is not a JSON
            object, and as ``train_config_from_mapping``.
    """
    data = load_json(text, where=where, code="INVALID_CONFIG")
    if not isinstance(data, dict):
        raise ModelTrainerError(
            "INVALID_CONFIG", f"{where}: must hold a JSON object, got {type(data).__name__}"
        )
    return train_config_from_mapping({str(k): v for k, v in data.items()}, base, where=where)


def score_config(**fields: object) -> ScoreConfig:
    """A validated score config: the schema's defaults with ``fields`` over them."""
    cfg = score_overlay(fields, where="score_config")
    validate_score_config(cfg)
    return cfg


def generate_config(**fields: object) -> GenerateConfig:
    """A validated generate config: the schema's defaults with ``fields`` over them."""
    cfg = generate_overlay(fields, where="generate_config")
    validate_generate_config(cfg)
    return cfg

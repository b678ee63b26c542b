"""A run's start: a fresh model of a family's size, or a model folder (``init_from``).

The registry says which family reads model folders and what such a model brings (its size
and its tokenizer, ``SourceStart``); a config naming a folder gets those fields here, once,
at the boundary where a run or an ``lr_find`` is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping

from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.schema import TRAIN_FIELDS, defaults, train_overlay
from model_trainer.core.errors import ConfigError


def resolve_start(cfg: ModelTrainConfig, registry: ModelRegistry) -> ModelTrainConfig:
    """``cfg`` with the fields a start from a model folder fixes, when ``init_from`` names one.

    The family is the registry's ``source_family``; each field it fixes (``model_family``,
    ``model_size``, ``tokenizer_kind``, and ``vocab_size``: the model's tokenizer is its own)
    must be at its schema default (then it is set) or already at its value. Without
    ``init_from``, a family whose models only come from a folder is refused.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming a field that conflicts with ``init_from``, or
            a folder-only family without it.
        ModelTrainerError: ``MODEL_NOT_FOUND`` for an unregistered family, or no family
            that reads model folders.
    """
    if not cfg["init_from"]:
        if registry.source_start(cfg["model_family"]) is not None:
            raise ConfigError(
                "INVALID_CONFIG",
                "model_family must be used with init_from naming a pretrained model, got "
                f"{cfg['model_family']!r}",
            )
        return cfg
    family, start = registry.source_family()
    default = defaults(TRAIN_FIELDS)
    fields: Mapping[str, object] = cfg
    fixed: dict[str, object] = {}
    for name, value in {
        "model_family": family,
        **start,
        "vocab_size": default["vocab_size"],
    }.items():
        if fields[name] not in (default[name], value):
            raise ConfigError(
                "INVALID_CONFIG",
                f"{name} {fields[name]!r} conflicts with init_from={cfg['init_from']!r}: a "
                f"pretrained model brings its own size, vocabulary and tokenizer; leave "
                f"{name} unset",
            )
        fixed[name] = value
    return train_overlay(fixed, cfg)

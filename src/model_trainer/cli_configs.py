"""The configs of the ``train``, ``score`` and ``generate`` commands, read from their flags.

Each is read strictly against its schema here; the job it starts validates it whole.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Protocol

from model_trainer.cli_flags import given_fields
from model_trainer.core.contracts.model import GenerateConfig, ModelTrainConfig, ScoreConfig
from model_trainer.core.contracts.schema import (
    GENERATE_FIELDS,
    SCORE_FIELDS,
    TRAIN_FIELDS,
    generate_overlay,
    score_overlay,
    train_overlay,
)
from model_trainer.core.contracts.typed_json import load_json
from model_trainer.core.data.corpus import read_text_file
from model_trainer.core.errors import ModelTrainerError

DETAIL_FLAG = "detail_shorthand"
"""Where ``--per-char`` and ``--per-word`` put the detail level they stand for."""


class _ConfigArg(Protocol):
    config: str | None


def train_config_of(raw: argparse.Namespace) -> ModelTrainConfig:
    """The run config of ``train``'s arguments: ``--config`` file, then the flags over it.

    Its fields are read strictly here; the train job validates the whole config.
    """
    args: _ConfigArg = raw
    flags = given_fields(raw, TRAIN_FIELDS)
    if args.config is None:
        return train_overlay(flags, where="command line")
    if not Path(args.config).is_file():
        raise ModelTrainerError("INVALID_CONFIG", f"--config: no file at {args.config!r}")
    where = f"--config {args.config}"
    data = load_json(read_text_file(args.config, "config"), where=where, code="INVALID_CONFIG")
    if not isinstance(data, dict):
        raise ModelTrainerError(
            "INVALID_CONFIG", f"{where}: must hold a JSON object, got {type(data).__name__}"
        )
    return train_overlay({**{str(key): value for key, value in data.items()}, **flags}, where=where)


def score_config_of(raw: argparse.Namespace) -> ScoreConfig:
    """The score config of ``score``'s flags (the score job validates it).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when ``--per-char`` or ``--per-word`` and
            ``--detail-level`` name two different levels.
    """
    fields = given_fields(raw, SCORE_FIELDS)
    shorthand: object = vars(raw).get(DETAIL_FLAG)
    if shorthand is not None:
        level = fields.setdefault("detail_level", shorthand)
        if level != shorthand:
            flag = "--" + str(shorthand).replace("_", "-")
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"{flag} and --detail-level {level} name two detail levels; give one",
            )
    return score_overlay(fields, where="command line")


def generate_config_of(raw: argparse.Namespace) -> GenerateConfig:
    """The generate config of ``generate``'s flags (the generate job validates it)."""
    return generate_overlay(given_fields(raw, GENERATE_FIELDS), where="command line")

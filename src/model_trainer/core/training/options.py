"""The loop's knobs: what ``BaseTrainer.train_epochs`` reads of a run's config and settings."""

from __future__ import annotations

from typing import Final, NotRequired, TypedDict

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.training.device import ResolvedPrecision, resolve_precision
from model_trainer.core.training.early_stop import EarlyStopping, early_stopping


class LoopOptions(TypedDict):
    """The loop's knobs, read from a run's config and settings by ``loop_options``."""

    precision: ResolvedPrecision
    grad_clip: float
    grad_accum_steps: int
    eval_every_steps: int
    max_steps_per_epoch: int
    checkpoint_every_steps: int
    progress_interval_s: float
    eval_max_tokens: int
    epoch_eval_max_tokens: int
    early_stopping: NotRequired[EarlyStopping]
    eval_quiet_s: NotRequired[float]


EVAL_QUIET_S: Final = 2.0
"""Seconds an epoch's closing validation runs before it reports its progress."""
EVAL_STAGE: Final = "evaluating the validation split"


def loop_options(cfg: ModelTrainConfig, settings: Settings, device: str) -> LoopOptions:
    """The loop's knobs of ``cfg`` on ``device``."""
    return {
        "precision": resolve_precision(cfg["precision"], device),
        "grad_clip": cfg["grad_clip"],
        "grad_accum_steps": cfg["grad_accum_steps"],
        "eval_every_steps": cfg["eval_every_steps"],
        "max_steps_per_epoch": cfg["max_steps_per_epoch"],
        "checkpoint_every_steps": cfg["checkpoint_every_steps"],
        "progress_interval_s": settings["progress_interval_s"],
        "eval_max_tokens": cfg["eval_max_tokens"],
        "epoch_eval_max_tokens": cfg["epoch_eval_max_tokens"],
        "early_stopping": early_stopping(cfg),
    }

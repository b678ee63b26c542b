"""Early stopping: a run ends once its validation loss stops improving.

The watched loss of an epoch is its validation loss (its training loss in a run without a
validation split). An epoch improves on the run when its loss is lower than the best so far
by more than ``min_delta``; a run stops after ``patience`` epochs in a row without an
improvement. The decision is read from the metric history alone, so a resumed run decides
as the run it continues would have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, TypedDict

from model_trainer.core.contracts.model import EpochMetrics, ModelTrainConfig, TrainStop


class EarlyStopping(TypedDict):
    """A run's early-stopping rule; ``patience`` 0 never stops."""

    patience: int
    min_delta: float


NEVER: Final[EarlyStopping] = {"patience": 0, "min_delta": 0.0}


def early_stopping(cfg: ModelTrainConfig) -> EarlyStopping:
    """The early-stopping rule of ``cfg``."""
    return {
        "patience": cfg["early_stopping_patience"],
        "min_delta": cfg["early_stopping_min_delta"],
    }


def watched_loss(metrics: EpochMetrics) -> float:
    """The loss early stopping and the best checkpoint watch: validation, else training."""
    return metrics["loss"] if metrics["val_loss"] is None else metrics["val_loss"]


def epochs_without_improvement(history: Sequence[EpochMetrics], min_delta: float) -> int:
    """How many epochs in a row, at the end of ``history``, did not improve the run."""
    best = math.inf
    since = 0
    for metrics in history:
        loss = watched_loss(metrics)
        if loss < best - min_delta:
            best, since = loss, 0
        else:
            since += 1
    return since


def should_stop(history: Sequence[EpochMetrics], rule: EarlyStopping) -> bool:
    """Whether a run whose finished epochs are ``history`` stops here."""
    patience = rule["patience"]
    return patience > 0 and epochs_without_improvement(history, rule["min_delta"]) >= patience


def stop_reason(history: Sequence[EpochMetrics], num_epochs: int, rule: EarlyStopping) -> TrainStop:
    """Why a run with ``history`` ended: all ``num_epochs``, early stopping, or a Stop."""
    if len(history) >= num_epochs:
        return "completed"
    return "early_stopping" if should_stop(history, rule) else "cancelled"

"""The ``TrainOutcome`` of a run, built from the epochs it finished: the one place it is built."""

from __future__ import annotations

import math

from model_trainer.core.contracts.model import EpochMetrics, LossUnit, TrainOutcome
from model_trainer.core.training.early_stop import NEVER, EarlyStopping, stop_reason


def train_outcome(
    *,
    history: list[EpochMetrics],
    steps: int,
    loss_unit: LossUnit,
    out_dir: str,
    num_epochs: int,
    stopping: EarlyStopping = NEVER,
) -> TrainOutcome:
    """A run's outcome after ``history`` (every epoch it finished) and ``steps`` updates.

    The losses, perplexities and throughput are those of the last epoch (a NaN loss when
    none finished); the run is ``cancelled`` when fewer than ``num_epochs`` finished and
    ``stopping`` did not end it.
    """
    last = history[-1] if history else None
    reason = stop_reason(history, num_epochs, stopping)
    return {
        "loss": math.nan if last is None else last["loss"],
        "perplexity": math.nan if last is None else last["perplexity"],
        "val_loss": None if last is None else last["val_loss"],
        "val_perplexity": None if last is None else last["val_perplexity"],
        "loss_unit": loss_unit,
        "steps": steps,
        "epochs_completed": len(history),
        "tokens_per_second": 0.0 if last is None else last["tokens_per_second"],
        "out_dir": out_dir,
        "cancelled": reason == "cancelled",
        "stop_reason": reason,
    }

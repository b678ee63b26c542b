"""The one place a ``TrainOutcome`` is built from a run's epoch history."""

from __future__ import annotations

import math

from model_trainer.core.contracts.model import EpochMetrics, LossUnit, TrainOutcome
from model_trainer.core.training.loss import perplexity


def train_outcome(
    *,
    history: list[EpochMetrics],
    steps: int,
    loss_unit: LossUnit,
    out_dir: str,
    num_epochs: int,
) -> TrainOutcome:
    """The outcome of a run that finished ``history``'s epochs after ``steps`` updates.

    The figures are the last epoch's (a NaN loss when no epoch finished); a run that
    finished fewer than ``num_epochs`` epochs was cancelled.
    """
    last = history[-1] if history else None
    loss = math.nan if last is None else last["loss"]
    val_loss = None if last is None else last["val_loss"]
    return {
        "loss": loss,
        "perplexity": perplexity(loss),
        "val_loss": val_loss,
        "val_perplexity": None if val_loss is None else perplexity(val_loss),
        "loss_unit": loss_unit,
        "steps": steps,
        "epochs_completed": len(history),
        "tokens_per_second": 0.0 if last is None else last["tokens_per_second"],
        "out_dir": out_dir,
        "cancelled": len(history) < num_epochs,
    }

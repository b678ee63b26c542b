"""The trainer's readings as metrics events: progress, validations inside an epoch, epochs."""

from __future__ import annotations

import time
from collections.abc import Callable

from model_trainer.core.contracts.model import EpochMetrics, LossUnit, Reading
from model_trainer.core.contracts.units import perplexity
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import (
    make_epoch_event,
    make_eval_event,
    make_progress_metrics_event,
)


class MetricsReporter:
    """Makes one run's ``trainer.metrics.*`` events from the training loop's callbacks.

    Args:
        emit: where each event goes.
        job_id: the job the events name.
        user_id: the user they name.
        num_epochs: the run's epochs.
        updates_per_epoch: optimizer updates per epoch (the run's ``TrainPlan``).
        loss_unit: what the losses are per: a token or a character.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        *,
        job_id: str,
        user_id: int,
        num_epochs: int,
        updates_per_epoch: int,
        loss_unit: LossUnit,
    ) -> None:
        self._emit = emit
        self._job_id = job_id
        self._user_id = user_id
        self._num_epochs = num_epochs
        self._updates_per_epoch = updates_per_epoch
        self._loss_unit: LossUnit = loss_unit
        self._started = self._last_time = time.perf_counter()

    def reading(self, reading: Reading) -> None:
        """A training-loss reading, with the token rate since the last one."""
        now = time.perf_counter()
        rate = reading["tokens"] / max(now - self._last_time, 1e-9)
        self._last_time = now
        self._emit(
            make_progress_metrics_event(
                job_id=self._job_id,
                user_id=self._user_id,
                epoch=reading["epoch"],
                total_epochs=self._num_epochs,
                step=reading["step"],
                steps_per_epoch=self._updates_per_epoch,
                loss=reading["loss"],
                tokens_per_second=rate,
                learning_rate=reading["learning_rate"],
                elapsed_s=now - self._started,
            )
        )

    def evaluated(self, step: int, val_loss: float) -> None:
        """A validation in the middle of an epoch (``eval_every_steps``), as it happens.

        An epoch's closing validation is in its epoch event.
        """
        self._emit(
            make_eval_event(
                job_id=self._job_id,
                user_id=self._user_id,
                epoch=(step - 1) // max(self._updates_per_epoch, 1) + 1,
                global_step=step,
                val_loss=val_loss,
                val_perplexity=perplexity(val_loss),
                loss_unit=self._loss_unit,
            )
        )

    def epoch_end(self, metrics: EpochMetrics) -> None:
        """The figures of an epoch that has just ended."""
        self._emit(
            make_epoch_event(
                job_id=self._job_id,
                user_id=self._user_id,
                epoch=metrics["epoch"],
                total_epochs=self._num_epochs,
                global_step=metrics["global_step"],
                elapsed_s=metrics["elapsed_s"],
                train_loss=metrics["loss"],
                train_perplexity=metrics["perplexity"],
                val_loss=metrics["val_loss"],
                val_perplexity=metrics["val_perplexity"],
                tokens_per_second=metrics["tokens_per_second"],
                learning_rate=metrics["learning_rate"],
                loss_unit=self._loss_unit,
            )
        )

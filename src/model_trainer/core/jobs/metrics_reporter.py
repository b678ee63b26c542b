"""The trainer's readings as metrics events: progress, validations inside an epoch, epochs."""

from __future__ import annotations

import time
from collections.abc import Callable

from model_trainer.core.contracts.model import EpochMetrics, LossUnit, ModelTrainConfig
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import (
    make_epoch_event,
    make_eval_event,
    make_progress_metrics_event,
)
from model_trainer.core.training.base_trainer import perplexity
from model_trainer.core.training.schedule import lr_at


class MetricsReporter:
    """Makes one run's ``trainer.metrics.*`` events from the trainer's callbacks.

    Args:
        emit: where each event goes.
        job_id: the job the events name.
        user_id: the user they name.
        cfg: the run's config (epochs, learning rate and warm-up).
        steps_per_epoch: optimizer updates per epoch.
        loss_unit: what the losses are per: a token or a character.
        tokens_per_update: tokens trained per update, over every process.
        first_step: the step training starts after (a checkpoint's, on resume).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        *,
        job_id: str,
        user_id: int,
        cfg: ModelTrainConfig,
        steps_per_epoch: int,
        loss_unit: LossUnit,
        tokens_per_update: int,
        first_step: int = 0,
    ) -> None:
        self._emit = emit
        self._job_id = job_id
        self._user_id = user_id
        self._cfg = cfg
        self._steps_per_epoch = steps_per_epoch
        self._loss_unit: LossUnit = loss_unit
        self._tokens_per_update = tokens_per_update
        self._last_step = first_step
        self._started = self._last_time = time.perf_counter()

    def progress(self, step: int, epoch: int, loss: float) -> None:
        """A training-loss reading at ``step``, with the rate since the last one."""
        now = time.perf_counter()
        updates = step - self._last_step
        rate = updates * self._tokens_per_update / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        self._emit(
            make_progress_metrics_event(
                job_id=self._job_id,
                user_id=self._user_id,
                epoch=epoch,
                total_epochs=self._cfg["num_epochs"],
                step=step,
                steps_per_epoch=self._steps_per_epoch,
                loss=loss,
                tokens_per_second=rate,
                learning_rate=lr_at(
                    step,
                    base_lr=self._cfg["learning_rate"],
                    warmup_steps=self._cfg["warmup_steps"],
                    total_steps=self._cfg["num_epochs"] * self._steps_per_epoch,
                ),
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
                epoch=(step - 1) // max(self._steps_per_epoch, 1) + 1,
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
                total_epochs=self._cfg["num_epochs"],
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

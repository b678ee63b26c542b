"""Fixtures of the notebook view tests: the events of one small, fixed training run."""

from __future__ import annotations

import pytest

from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import make_completed_event, make_started_event
from model_trainer.core.events.trainer_metrics_events import (
    make_completed_metrics_event,
    make_config_event,
    make_epoch_event,
    make_eval_event,
    make_progress_metrics_event,
)

EPOCHS = 2
STEPS_PER_EPOCH = 4


def _progress(step: int) -> Event:
    return make_progress_metrics_event(
        job_id="j1",
        user_id=1,
        epoch=(step - 1) // STEPS_PER_EPOCH + 1,
        total_epochs=EPOCHS,
        step=step,
        steps_per_epoch=STEPS_PER_EPOCH,
        loss=4.0 - 0.25 * step,
        tokens_per_second=2048.0,
        learning_rate=1e-3,
        elapsed_s=0.5 * step,
        ts=100.0 + step,
    )


def _epoch(epoch: int) -> Event:
    step = epoch * STEPS_PER_EPOCH
    return make_epoch_event(
        job_id="j1",
        user_id=1,
        epoch=epoch,
        total_epochs=EPOCHS,
        global_step=step,
        elapsed_s=0.5 * STEPS_PER_EPOCH,
        train_loss=3.5 - 0.5 * epoch,
        train_perplexity=1.0,
        val_loss=3.7 - 0.5 * epoch,
        val_perplexity=1.0,
        tokens_per_second=2000.0,
        learning_rate=1e-3,
        loss_unit="token",
        ts=200.0 + epoch,
    )


@pytest.fixture
def run_events() -> list[Event]:
    """A whole run: 2 epochs of 4 steps, a mid-epoch evaluation, then completion."""
    events: list[Event] = [
        make_started_event(job_id="j1", user_id=1, kind="train", run_id="r1", ts=99.0),
        make_config_event(
            job_id="j1",
            user_id=1,
            model_family="gpt2",
            model_size="tiny",
            total_epochs=EPOCHS,
            steps_per_epoch=STEPS_PER_EPOCH,
            chars_per_token=2.0,
            loss_unit="token",
            ts=99.5,
        ),
    ]
    for step in range(1, EPOCHS * STEPS_PER_EPOCH + 1):
        events.append(_progress(step))
        if step == 2:
            events.append(
                make_eval_event(
                    job_id="j1",
                    user_id=1,
                    epoch=1,
                    global_step=2,
                    val_loss=3.6,
                    val_perplexity=36.6,
                    loss_unit="token",
                    ts=150.0,
                )
            )
        if step % STEPS_PER_EPOCH == 0:
            events.append(_epoch(step // STEPS_PER_EPOCH))
    events.append(
        make_completed_metrics_event(
            job_id="j1",
            user_id=1,
            loss=2.5,
            perplexity=12.18,
            artifact_path="runs/r1/model",
            val_loss=2.7,
            val_perplexity=14.88,
            ts=300.0,
        )
    )
    events.append(
        make_completed_event(job_id="j1", user_id=1, result_id="r1", result_bytes=10, ts=301.0)
    )
    return events

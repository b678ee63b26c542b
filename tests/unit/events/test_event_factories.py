"""Event factories (defaults, optional fields) and the type guards."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import pytest

from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import (
    is_completed,
    is_failed,
    is_job_progress,
    is_started,
    make_completed_event,
    make_failed_event,
    make_progress_event,
    make_started_event,
)
from model_trainer.core.events.trainer_metrics_events import (
    is_completed_metrics,
    is_config,
    is_epoch,
    is_eval,
    is_progress_metrics,
    make_completed_metrics_event,
    make_config_event,
    make_epoch_event,
    make_eval_event,
    make_progress_metrics_event,
)

CONFIG_OPTIONALS = {
    "cpu_cores": 8,
    "memory_mb": 16000,
    "optimal_threads": 4,
    "optimal_workers": 2,
    "batch_size": 16,
    "steps_per_epoch": 100,
    "max_seq_len": 32,
    "vocab_size": 256,
    "learning_rate": 3e-4,
    "chars_per_token": 3.9,
    "device": "cpu",
    "precision": "fp32",
    "tokenizer_kind": "char",
    "loss_unit": "char",
}


def events_now() -> list[Event]:
    """One event of each type, every one with its default ``ts``."""
    return [
        make_started_event(job_id="j", user_id=1, kind="train", run_id="r"),
        make_progress_event(job_id="j", user_id=1, progress=10, message="tokenizing"),
        make_completed_event(job_id="j", user_id=1, result_id="model", result_bytes=2048),
        make_failed_event(
            job_id="j", user_id=1, error_kind="system", code="TRAINING_OOM", message="oom"
        ),
        make_config_event(
            job_id="j", user_id=1, model_family="char_lstm", model_size="tiny", total_epochs=2
        ),
        make_progress_metrics_event(
            job_id="j",
            user_id=1,
            epoch=1,
            total_epochs=2,
            step=3,
            steps_per_epoch=10,
            loss=4.2,
            tokens_per_second=500.0,
            learning_rate=1e-3,
            elapsed_s=0.5,
        ),
        make_epoch_event(
            job_id="j",
            user_id=1,
            epoch=1,
            total_epochs=2,
            global_step=10,
            elapsed_s=2.0,
            train_loss=3.1,
            train_perplexity=22.2,
            val_loss=None,
            val_perplexity=None,
            tokens_per_second=480.0,
            learning_rate=9e-4,
            loss_unit="token",
        ),
        make_eval_event(
            job_id="j",
            user_id=1,
            epoch=1,
            global_step=5,
            val_loss=3.3,
            val_perplexity=27.1,
            loss_unit="token",
        ),
        make_completed_metrics_event(
            job_id="j", user_id=1, loss=3.0, perplexity=20.1, artifact_path="runs/r/model"
        ),
    ]


def test_ts_defaults_to_now_and_queue_to_local() -> None:
    before = time.time()
    events = events_now()
    after = time.time()
    assert [before <= event["ts"] <= after for event in events] == [True] * 9
    assert [event["queue"] for event in events if is_started(event) or is_config(event)] == [
        "local",
        "local",
    ]


def test_config_omits_optional_fields_left_none() -> None:
    event = make_config_event(
        job_id="j", user_id=2, model_family="gpt2", model_size="small", total_epochs=3, ts=5.0
    )
    assert event == {
        "type": "trainer.metrics.config.v1",
        "job_id": "j",
        "user_id": 2,
        "ts": 5.0,
        "model_family": "gpt2",
        "model_size": "small",
        "total_epochs": 3,
        "queue": "local",
    }


def test_config_keeps_every_optional_field_given() -> None:
    event = make_config_event(
        job_id="j",
        user_id=2,
        model_family="gpt2",
        model_size="small",
        total_epochs=3,
        queue="gpu",
        ts=5.0,
        cpu_cores=8,
        memory_mb=16000,
        optimal_threads=4,
        optimal_workers=2,
        batch_size=16,
        steps_per_epoch=100,
        max_seq_len=32,
        vocab_size=256,
        learning_rate=3e-4,
        chars_per_token=3.9,
        device="cpu",
        precision="fp32",
        tokenizer_kind="char",
        loss_unit="char",
    )
    assert {name: value for name, value in event.items() if name in CONFIG_OPTIONALS} == (
        CONFIG_OPTIONALS
    )
    assert event["queue"] == "gpu"


@pytest.mark.parametrize(
    ("val_loss", "val_perplexity", "present"),
    [(None, None, set()), (2.0, 7.4, {"val_loss", "val_perplexity"}), (2.0, None, {"val_loss"})],
)
def test_completed_metrics_omits_val_figures_left_none(
    val_loss: float | None, val_perplexity: float | None, present: set[str]
) -> None:
    event = make_completed_metrics_event(
        job_id="j",
        user_id=1,
        loss=2.1,
        perplexity=8.2,
        artifact_path="a",
        val_loss=val_loss,
        val_perplexity=val_perplexity,
    )
    assert set(event) & {"val_loss", "val_perplexity"} == present


GUARDS: list[Callable[[Mapping[str, object]], bool]] = [
    is_started,
    is_job_progress,
    is_completed,
    is_failed,
    is_config,
    is_progress_metrics,
    is_epoch,
    is_eval,
    is_completed_metrics,
]


def test_each_guard_accepts_exactly_its_own_type() -> None:
    matrix = [[guard(event) for guard in GUARDS] for event in events_now()]
    assert matrix == [[row == column for column in range(9)] for row in range(9)]


def test_guards_narrow_to_the_fields_of_their_type() -> None:
    units = [event["loss_unit"] for event in events_now() if is_epoch(event) or is_eval(event)]
    codes = [event["code"] for event in events_now() if is_failed(event)]
    assert (units, codes) == (["token", "token"], ["TRAINING_OOM"])

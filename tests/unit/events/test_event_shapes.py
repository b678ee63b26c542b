"""Payloads of the spec's shapes decode; guards and codec hold every field to its type."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TypedDict

import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import (
    EventDecodeError,
    EventEncodeError,
    decode_event,
    encode_event,
)
from model_trainer.core.events.job_events import (
    is_completed,
    is_failed,
    is_job_progress,
    is_started,
    make_progress_event,
)
from model_trainer.core.events.shapes import shapes_of
from model_trainer.core.events.trainer_metrics_events import (
    decode_trainer_metrics_event,
    encode_trainer_metrics_event,
    is_completed_metrics,
    is_config,
    is_epoch,
    is_eval,
    is_progress_metrics,
    make_config_event,
    make_eval_event,
    make_progress_metrics_event,
)

SPEC_JOB_EVENTS: list[dict[str, object]] = [
    {"type": "trainer.job.started.v1", "job_id": "j", "user_id": 1, "queue": "training"},
    {
        "type": "trainer.job.progress.v1",
        "job_id": "j",
        "user_id": 1,
        "progress": 40,
        "message": "epoch 2",
        "payload": {"epoch": 2, "loss": 1.5, "tags": ["a", None, True], "deep": {"x": []}},
    },
    {
        "type": "trainer.job.completed.v1",
        "job_id": "j",
        "user_id": 1,
        "result_id": "model-1",
        "result_bytes": 2048,
    },
    {
        "type": "trainer.job.failed.v1",
        "job_id": "j",
        "user_id": 1,
        "error_kind": "system",
        "message": "out of memory",
    },
]

SPEC_METRICS_EVENTS: list[dict[str, object]] = [
    {
        "type": "trainer.metrics.config.v1",
        "job_id": "j",
        "user_id": 1,
        "model_family": "gpt2",
        "model_size": "small",
        "total_epochs": 3,
        "queue": "training",
        "cpu_cores": 8,
        "memory_mb": 16384,
        "optimal_threads": 4,
        "optimal_workers": 2,
        "batch_size": 16,
        "learning_rate": 0.0005,
    },
    {
        "type": "trainer.metrics.config.v1",
        "job_id": "j",
        "user_id": 1,
        "model_family": "gpt2",
        "model_size": "small",
        "total_epochs": 3,
        "queue": "training",
    },
    {
        "type": "trainer.metrics.progress.v1",
        "job_id": "j",
        "user_id": 1,
        "epoch": 1,
        "total_epochs": 3,
        "step": 120,
        "loss": 2.75,
    },
    {
        "type": "trainer.metrics.completed.v1",
        "job_id": "j",
        "user_id": 1,
        "loss": 1.25,
        "perplexity": 3.49,
        "artifact_path": "/models/j",
    },
]

GUARDS: dict[str, Callable[[Mapping[str, object]], bool]] = {
    "trainer.job.started.v1": is_started,
    "trainer.job.progress.v1": is_job_progress,
    "trainer.job.completed.v1": is_completed,
    "trainer.job.failed.v1": is_failed,
    "trainer.metrics.config.v1": is_config,
    "trainer.metrics.progress.v1": is_progress_metrics,
    "trainer.metrics.completed.v1": is_completed_metrics,
}


@pytest.mark.parametrize("payload", SPEC_JOB_EVENTS + SPEC_METRICS_EVENTS)
def test_a_payload_of_the_spec_shape_decodes_and_reads_back(payload: dict[str, object]) -> None:
    line = json.dumps(payload)
    event = decode_event(line)
    assert event == payload
    assert json.loads(encode_event(event)) == payload
    assert GUARDS[str(payload["type"])](payload)


@pytest.mark.parametrize("payload", SPEC_METRICS_EVENTS)
def test_metrics_codec_under_the_spec_names(payload: dict[str, object]) -> None:
    event = decode_trainer_metrics_event(json.dumps(payload))
    assert event == payload
    assert encode_trainer_metrics_event(event) == encode_event(event)
    assert decode_trainer_metrics_event(encode_trainer_metrics_event(event)) == event


def test_metrics_codec_refuses_job_events_and_bad_fields() -> None:
    with pytest.raises(EventDecodeError, match="must be a known event type"):
        decode_trainer_metrics_event(json.dumps(SPEC_JOB_EVENTS[0]))
    with pytest.raises(EventDecodeError, match="field 'loss' must be a finite number, got 'x'"):
        decode_trainer_metrics_event(json.dumps({**SPEC_METRICS_EVENTS[2], "loss": "x"}))
    bad = make_progress_metrics_event(
        job_id="j",
        user_id=1,
        epoch=1,
        total_epochs=1,
        step=1,
        steps_per_epoch=1,
        loss=math.inf,
        tokens_per_second=1.0,
        learning_rate=1.0,
        elapsed_s=1.0,
    )
    with pytest.raises(EventEncodeError, match="field 'loss' must be a finite number, got inf"):
        encode_trainer_metrics_event(bad)


def test_factories_write_every_field_the_project_adds() -> None:
    event = make_progress_metrics_event(
        job_id="j",
        user_id=1,
        epoch=1,
        total_epochs=2,
        step=3,
        steps_per_epoch=4,
        loss=2.0,
        tokens_per_second=10.0,
        learning_rate=0.1,
        elapsed_s=0.5,
        ts=7.0,
    )
    assert event == {
        **SPEC_METRICS_EVENTS[2],
        "epoch": 1,
        "total_epochs": 2,
        "step": 3,
        "loss": 2.0,
        "ts": 7.0,
        "steps_per_epoch": 4,
        "tokens_per_second": 10.0,
        "learning_rate": 0.1,
        "elapsed_s": 0.5,
    }


def test_job_progress_payload_is_written_only_when_given() -> None:
    plain = make_progress_event(job_id="j", user_id=1, progress=5, message="m", ts=1.0)
    carried = make_progress_event(
        job_id="j", user_id=1, progress=5, message="m", payload={"k": [1, "v"]}, ts=1.0
    )
    assert "payload" not in plain
    assert decode_event(encode_event(carried)) == {**plain, "payload": {"k": [1, "v"]}}


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ({"loss": math.nan}, "nan"),
        ({"deep": [{"x": -math.inf}]}, "-inf"),
        ({1: "int key"}, "1: 'int key'"),
        ({"t": (1, 2)}, "(1, 2)"),
    ],
)
def test_encoding_refuses_a_payload_that_is_not_finite_json(
    payload: dict[object, object], shown: str
) -> None:
    event = make_progress_event(job_id="j", user_id=1, progress=5, message="m", ts=1.0)
    field: str = "payload"
    event.__setitem__(field, payload)
    with pytest.raises(EventEncodeError, match="field 'payload' must be a JSON object") as info:
        encode_event(event)
    assert shown in str(info.value)


WRONG_SHAPES: list[tuple[dict[str, object], str]] = [
    ({**SPEC_JOB_EVENTS[0], "queue": 3}, "trainer.job.started.v1"),
    ({**SPEC_JOB_EVENTS[0], "kind": "fit"}, "trainer.job.started.v1"),
    ({**SPEC_JOB_EVENTS[1], "progress": 4.0}, "trainer.job.progress.v1"),
    ({**SPEC_JOB_EVENTS[1], "payload": [1]}, "trainer.job.progress.v1"),
    ({"type": "trainer.job.completed.v1", "job_id": "j", "user_id": 1}, "trainer.job.completed.v1"),
    ({**SPEC_JOB_EVENTS[3], "error_kind": "mine"}, "trainer.job.failed.v1"),
    ({**SPEC_JOB_EVENTS[3], "code": "NOPE"}, "trainer.job.failed.v1"),
    ({**SPEC_METRICS_EVENTS[1], "total_epochs": "3"}, "trainer.metrics.config.v1"),
    ({**SPEC_METRICS_EVENTS[1], "cpu_cores": True}, "trainer.metrics.config.v1"),
    ({**SPEC_METRICS_EVENTS[2], "loss": None}, "trainer.metrics.progress.v1"),
    ({**SPEC_METRICS_EVENTS[2], "surprise": 1}, "trainer.metrics.progress.v1"),
    ({**SPEC_METRICS_EVENTS[3], "ts": "now"}, "trainer.metrics.completed.v1"),
    ({"type": "trainer.metrics.epoch.v1", "job_id": "j", "user_id": 1}, "trainer.metrics.epoch.v1"),
    ({"type": "trainer.metrics.eval.v1", "job_id": "j", "user_id": 1}, "trainer.metrics.eval.v1"),
]
ALL_GUARDS: dict[str, Callable[[Mapping[str, object]], bool]] = {
    **GUARDS,
    "trainer.metrics.epoch.v1": is_epoch,
    "trainer.metrics.eval.v1": is_eval,
}


@pytest.mark.parametrize(("payload", "type_name"), WRONG_SHAPES)
def test_a_guard_refuses_a_wrong_shape_whose_type_matches(
    payload: dict[str, object], type_name: str
) -> None:
    assert payload["type"] == type_name
    assert [name for name, guard in ALL_GUARDS.items() if guard(payload)] == []
    with pytest.raises(EventDecodeError, match=type_name.replace(".", r"\.")):
        decode_event(json.dumps(payload))


def test_a_guard_takes_an_int_for_a_float_as_the_typed_dict_does() -> None:
    event = make_eval_event(
        job_id="j",
        user_id=1,
        epoch=1,
        global_step=2,
        val_loss=3,
        val_perplexity=20,
        loss_unit="char",
    )
    assert is_eval(event)
    assert not is_eval({**event, "val_loss": False})
    assert [is_config(event), is_epoch(event)] == [False, False]


def test_a_config_event_carries_the_resource_fields() -> None:
    event = make_config_event(
        job_id="j",
        user_id=1,
        model_family="fake",
        model_size="tiny",
        total_epochs=1,
        cpu_cores=8,
        memory_mb=4096,
        optimal_threads=4,
        optimal_workers=0,
        ts=1.0,
    )
    assert is_config(event)
    resources = {key: event.get(key) for key in ("cpu_cores", "memory_mb", "optimal_threads")}
    assert resources == {"cpu_cores": 8, "memory_mb": 4096, "optimal_threads": 4}
    assert event.get("optimal_workers") == 0


class _Odd(TypedDict):
    type: str
    blob: bytes


def test_an_annotation_without_a_kind_is_refused() -> None:
    with pytest.raises(ModelTrainerError, match=r"_Odd\.blob: annotation <class 'bytes'>") as info:
        shapes_of([_Odd])
    assert info.value.code == "INTERNAL_ERROR"

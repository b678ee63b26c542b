"""Named codec cases: number rules, error messages, encoding refusals, reading JSON-lines files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from model_trainer.core.events.codec import (
    Event,
    EventDecodeError,
    EventEncodeError,
    decode_event,
    encode_event,
    read_events,
)
from model_trainer.core.events.job_events import make_progress_event, make_started_event
from model_trainer.core.events.trainer_metrics_events import (
    TrainerProgressMetricsV1,
    make_completed_metrics_event,
    make_config_event,
    make_progress_metrics_event,
)


def progress_metrics(*, loss: float = 2.5, learning_rate: float = 3e-4) -> TrainerProgressMetricsV1:
    return make_progress_metrics_event(
        job_id="j",
        user_id=7,
        epoch=1,
        total_epochs=3,
        step=12,
        steps_per_epoch=40,
        loss=loss,
        tokens_per_second=900.0,
        learning_rate=learning_rate,
        elapsed_s=1.25,
        ts=100.0,
    )


def with_field(name: str, value: object) -> str:
    return json.dumps({**progress_metrics(), name: value})


def test_encoded_line_is_compact_sorted_json() -> None:
    line = encode_event(make_started_event(job_id="j", user_id=1, kind="eval", run_id="r", ts=2.0))
    assert line == (
        '{"job_id":"j","kind":"eval","queue":"local","run_id":"r","ts":2.0,'
        '"type":"trainer.job.started.v1","user_id":1}'
    )


def test_an_int_in_a_float_field_becomes_a_float_both_ways() -> None:
    decoded = decode_event(with_field("loss", 3))
    assert decoded == progress_metrics(loss=3.0)
    assert type(decoded["ts"]) is float
    assert '"loss":3.0' in encode_event(progress_metrics(loss=3))


def test_negative_zero_and_extreme_floats_survive() -> None:
    event = progress_metrics(loss=-0.0, learning_rate=5e-324)
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert math.copysign(1.0, decoded["loss"]) == -1.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("step", True, "field 'step' must be an integer, got True"),
        ("step", 12.0, "field 'step' must be an integer, got 12.0"),
        ("loss", None, "field 'loss' must be a finite number, got None"),
        ("loss", 10**400, "field 'loss' must be a finite number, got 1000000"),
        ("job_id", 5, "field 'job_id' must be a string, got 5"),
        ("extra", 1, "trainer.metrics.progress.v1: unexpected field 'extra' = 1"),
    ],
)
def test_a_misfit_names_the_field_and_the_value(name: str, value: object, message: str) -> None:
    with pytest.raises(EventDecodeError, match=r"^trainer\.metrics\.progress\.v1: ") as raised:
        decode_event(with_field(name, value))
    assert message in str(raised.value)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(literal: str) -> None:
    payload = with_field("loss", 0.0).replace('"loss": 0.0', f'"loss": {literal}')
    with pytest.raises(EventDecodeError, match="field 'loss' must be a finite number"):
        decode_event(payload)


def test_missing_and_enum_fields_are_named() -> None:
    event = dict(make_started_event(job_id="j", user_id=1, kind="train", run_id="r", ts=1.0))
    del event["queue"]
    with pytest.raises(EventDecodeError, match="field 'queue' is missing"):
        decode_event(json.dumps(event))
    event["queue"], event["kind"] = "local", "fit"
    with pytest.raises(EventDecodeError, match=r"field 'kind' must be one of 'train', .*got 'fit'"):
        decode_event(json.dumps(event))


@pytest.mark.parametrize("progress", [-1, 101])
def test_progress_is_a_percent(progress: int) -> None:
    payload = json.dumps(
        {**make_progress_event(job_id="j", user_id=1, progress=5, message=""), "progress": progress}
    )
    with pytest.raises(EventDecodeError, match=f"an integer from 0 to 100, got {progress}"):
        decode_event(payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "not valid JSON"),
        ('{"type": "trainer.job.started.v1", "type": "x"}', r"duplicate field\(s\) \['type'\]"),
        ("[" * 100_000, "not valid JSON"),
        ("7" * 5000, "not valid JSON"),
        ("[1, 2]", "an event must be a JSON object, got list"),
        ("{}", "field 'type' is missing"),
        ('{"type": null}', "field 'type' must be a known event type, got None"),
        ('{"type": 3}', "field 'type' must be a known event type, got 3"),
        ('{"type": "trainer.job.started.v2"}', "got 'trainer.job.started.v2'"),
    ],
)
def test_payloads_that_are_not_events(payload: str, message: str) -> None:
    with pytest.raises(EventDecodeError, match=message):
        decode_event(payload)


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(EventDecodeError) as raised:
        decode_event(with_field("job_id", list(range(1000))))
    assert str(raised.value).endswith("...")
    assert len(str(raised.value)) < 200


def test_encoding_refuses_what_decoding_would() -> None:
    with pytest.raises(EventEncodeError, match="field 'loss' must be a finite number, got nan"):
        encode_event(progress_metrics(loss=math.nan))
    with pytest.raises(EventEncodeError, match="field 'user_id' must be an integer, got True"):
        encode_event(make_started_event(job_id="j", user_id=True, kind="train", run_id="r"))
    with pytest.raises(EventEncodeError, match="field 'progress' must be an integer from 0"):
        encode_event(make_progress_event(job_id="j", user_id=1, progress=150, message=""))
    with pytest.raises(EventEncodeError, match="field 'chars_per_token' must be a finite"):
        encode_event(
            make_config_event(
                job_id="j",
                user_id=1,
                model_family="gpt2",
                model_size="tiny",
                total_epochs=1,
                chars_per_token=math.inf,
            )
        )


def test_read_events_reads_every_line(tmp_path: Path) -> None:
    events: list[Event] = [
        make_started_event(job_id="j", user_id=1, kind="train", run_id="r", ts=1.0),
        progress_metrics(),
        make_completed_metrics_event(
            job_id="j", user_id=1, loss=2.0, perplexity=7.39, artifact_path="m", ts=3.0
        ),
    ]
    lines = [encode_event(event) for event in events]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_events(path) == events
    path.write_text("\n".join(lines), encoding="utf-8")
    assert read_events(str(path)) == events
    path.write_text("", encoding="utf-8")
    assert read_events(path) == []


@pytest.mark.parametrize(
    ("third_line", "message"),
    [
        (b"", "not valid JSON"),
        (b'{"type": "nope"}', "field 'type' must be a known event type"),
        (b'{"job_id": "\xff"}', "line is not UTF-8"),
    ],
)
def test_read_events_names_the_bad_line(tmp_path: Path, third_line: bytes, message: str) -> None:
    good = encode_event(progress_metrics()).encode("utf-8")
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([good, good, third_line, good]) + b"\n")
    with pytest.raises(EventDecodeError, match=f"^{re.escape(str(path))}:3: {message}"):
        read_events(path)

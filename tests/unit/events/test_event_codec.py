"""Round trips and malformed payloads for every event type, generated with hypothesis.

Field kinds are read from the TypedDicts themselves, so these tests also check that the
codec's field table agrees with the declared events.
"""

from __future__ import annotations

import json
import math
from typing import Literal, NotRequired, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.errors import ModelTrainerErrorCode
from model_trainer.core.events.codec import Event, EventDecodeError, decode_event, encode_event
from model_trainer.core.events.job_events import (
    ErrorKind,
    JobCompletedV1,
    JobFailedV1,
    JobKind,
    JobProgressV1,
    JobStartedV1,
    make_completed_event,
    make_failed_event,
    make_progress_event,
    make_started_event,
)
from model_trainer.core.events.trainer_metrics_events import (
    TrainerCompletedMetricsV1,
    TrainerConfigV1,
    TrainerEpochMetricsV1,
    TrainerEvalMetricsV1,
    TrainerProgressMetricsV1,
    make_completed_metrics_event,
    make_config_event,
    make_epoch_event,
    make_eval_event,
    make_progress_metrics_event,
)

Kind = Literal["str", "int", "percent", "float", "float_or_none", "enum", "object"]

ids = st.text(max_size=12)
ints = st.integers(min_value=-(2**70), max_value=2**70)
floats = st.floats(allow_nan=False, allow_infinity=False)
units = st.sampled_from(get_args(LossUnit))
json_values = st.recursive(
    st.none() | st.booleans() | ints | floats | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def maybe_ints() -> st.SearchStrategy[int | None]:
    return st.none() | ints


def maybe_floats() -> st.SearchStrategy[float | None]:
    return st.none() | floats


def maybe_ids() -> st.SearchStrategy[str | None]:
    return st.none() | ids


STRATEGIES: dict[str, st.SearchStrategy[Event]] = {
    "trainer.job.started.v1": st.builds(
        make_started_event,
        job_id=ids,
        user_id=ints,
        kind=st.sampled_from(get_args(JobKind)),
        run_id=ids,
        queue=ids,
        ts=floats,
    ),
    "trainer.job.progress.v1": st.builds(
        make_progress_event,
        job_id=ids,
        user_id=ints,
        progress=st.integers(min_value=0, max_value=100),
        message=st.text(max_size=40),
        payload=st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
        ts=floats,
    ),
    "trainer.job.completed.v1": st.builds(
        make_completed_event,
        job_id=ids,
        user_id=ints,
        result_id=ids,
        result_bytes=ints,
        ts=floats,
    ),
    "trainer.job.failed.v1": st.builds(
        make_failed_event,
        job_id=ids,
        user_id=ints,
        error_kind=st.sampled_from(get_args(ErrorKind)),
        code=st.sampled_from(get_args(ModelTrainerErrorCode)),
        message=st.text(max_size=40),
        ts=floats,
    ),
    "trainer.metrics.config.v1": st.builds(
        make_config_event,
        job_id=ids,
        user_id=ints,
        model_family=ids,
        model_size=ids,
        total_epochs=ints,
        queue=ids,
        ts=floats,
        cpu_cores=maybe_ints(),
        memory_mb=maybe_ints(),
        optimal_threads=maybe_ints(),
        optimal_workers=maybe_ints(),
        batch_size=maybe_ints(),
        steps_per_epoch=maybe_ints(),
        max_seq_len=maybe_ints(),
        vocab_size=maybe_ints(),
        learning_rate=maybe_floats(),
        chars_per_token=maybe_floats(),
        device=maybe_ids(),
        precision=maybe_ids(),
        tokenizer_kind=maybe_ids(),
        loss_unit=st.none() | units,
    ),
    "trainer.metrics.progress.v1": st.builds(
        make_progress_metrics_event,
        job_id=ids,
        user_id=ints,
        epoch=ints,
        total_epochs=ints,
        step=ints,
        steps_per_epoch=ints,
        loss=floats,
        tokens_per_second=floats,
        learning_rate=floats,
        elapsed_s=floats,
        ts=floats,
    ),
    "trainer.metrics.epoch.v1": st.builds(
        make_epoch_event,
        job_id=ids,
        user_id=ints,
        epoch=ints,
        total_epochs=ints,
        global_step=ints,
        elapsed_s=floats,
        train_loss=floats,
        train_perplexity=floats,
        val_loss=maybe_floats(),
        val_perplexity=maybe_floats(),
        tokens_per_second=floats,
        learning_rate=floats,
        loss_unit=units,
        ts=floats,
    ),
    "trainer.metrics.eval.v1": st.builds(
        make_eval_event,
        job_id=ids,
        user_id=ints,
        epoch=ints,
        global_step=ints,
        val_loss=floats,
        val_perplexity=floats,
        loss_unit=units,
        ts=floats,
    ),
    "trainer.metrics.completed.v1": st.builds(
        make_completed_metrics_event,
        job_id=ids,
        user_id=ints,
        loss=floats,
        perplexity=floats,
        artifact_path=ids,
        val_loss=maybe_floats(),
        val_perplexity=maybe_floats(),
        ts=floats,
    ),
}

TYPED_DICTS: dict[str, type] = {
    "trainer.job.started.v1": JobStartedV1,
    "trainer.job.progress.v1": JobProgressV1,
    "trainer.job.completed.v1": JobCompletedV1,
    "trainer.job.failed.v1": JobFailedV1,
    "trainer.metrics.config.v1": TrainerConfigV1,
    "trainer.metrics.progress.v1": TrainerProgressMetricsV1,
    "trainer.metrics.epoch.v1": TrainerEpochMetricsV1,
    "trainer.metrics.eval.v1": TrainerEvalMetricsV1,
    "trainer.metrics.completed.v1": TrainerCompletedMetricsV1,
}
HINTS: dict[str, dict[str, object]] = {
    type_name: get_type_hints(typed_dict) for type_name, typed_dict in TYPED_DICTS.items()
}
REQUIRED: dict[str, frozenset[str]] = {
    type_name: frozenset(
        name
        for name, hint in get_type_hints(typed_dict, include_extras=True).items()
        if get_origin(hint) is not NotRequired
    )
    for type_name, typed_dict in TYPED_DICTS.items()
}


FULL_EVENTS: dict[str, Event] = {
    "trainer.job.started.v1": make_started_event(
        job_id="j", user_id=1, kind="train", run_id="r", ts=1.0
    ),
    "trainer.job.progress.v1": make_progress_event(
        job_id="j", user_id=1, progress=50, message="half", payload={"a": [1, 2.5]}, ts=1.0
    ),
    "trainer.job.completed.v1": make_completed_event(
        job_id="j", user_id=1, result_id="m", result_bytes=10, ts=1.0
    ),
    "trainer.job.failed.v1": make_failed_event(
        job_id="j", user_id=1, error_kind="user", code="CORPUS_EMPTY", message="m", ts=1.0
    ),
    "trainer.metrics.config.v1": make_config_event(
        job_id="j",
        user_id=1,
        model_family="gpt2",
        model_size="tiny",
        total_epochs=2,
        ts=1.0,
        cpu_cores=4,
        memory_mb=1024,
        optimal_threads=2,
        optimal_workers=1,
        batch_size=8,
        steps_per_epoch=10,
        max_seq_len=32,
        vocab_size=100,
        learning_rate=1e-3,
        chars_per_token=3.5,
        device="cpu",
        precision="fp32",
        tokenizer_kind="bpe",
        loss_unit="token",
    ),
    "trainer.metrics.progress.v1": make_progress_metrics_event(
        job_id="j",
        user_id=1,
        epoch=1,
        total_epochs=2,
        step=5,
        steps_per_epoch=10,
        loss=2.5,
        tokens_per_second=100.0,
        learning_rate=1e-3,
        elapsed_s=1.5,
        ts=1.0,
    ),
    "trainer.metrics.epoch.v1": make_epoch_event(
        job_id="j",
        user_id=1,
        epoch=1,
        total_epochs=2,
        global_step=10,
        elapsed_s=3.0,
        train_loss=2.5,
        train_perplexity=12.2,
        val_loss=2.6,
        val_perplexity=13.5,
        tokens_per_second=100.0,
        learning_rate=1e-3,
        loss_unit="char",
        ts=1.0,
    ),
    "trainer.metrics.eval.v1": make_eval_event(
        job_id="j",
        user_id=1,
        epoch=1,
        global_step=10,
        val_loss=2.6,
        val_perplexity=13.5,
        loss_unit="token",
        ts=1.0,
    ),
    "trainer.metrics.completed.v1": make_completed_metrics_event(
        job_id="j",
        user_id=1,
        loss=2.5,
        perplexity=12.2,
        artifact_path="runs/r/model",
        val_loss=2.6,
        val_perplexity=13.5,
        ts=1.0,
    ),
}


MINIMAL_EVENTS: list[Event] = [
    make_config_event(
        job_id="j", user_id=1, model_family="lstm", model_size="tiny", total_epochs=1, ts=1.0
    ),
    make_completed_metrics_event(job_id="j", user_id=1, loss=2.0, perplexity=7.4, artifact_path=""),
    make_epoch_event(
        job_id="j",
        user_id=1,
        epoch=1,
        total_epochs=2,
        global_step=10,
        elapsed_s=3.0,
        train_loss=2.5,
        train_perplexity=12.2,
        val_loss=None,
        val_perplexity=None,
        tokens_per_second=100.0,
        learning_rate=1e-3,
        loss_unit="char",
    ),
]
SAMPLES: list[Event] = [*FULL_EVENTS.values(), *MINIMAL_EVENTS]


def kind_of(name: str, hint: object) -> Kind:
    """The codec kind a TypedDict annotation stands for."""
    if name == "progress":
        return "percent"
    if get_origin(hint) is Literal:
        return "enum"
    if get_origin(hint) is dict:
        return "object"
    if hint == float | None:
        return "float_or_none"
    kinds: dict[object, Kind] = {str: "str", int: "int", float: "float"}
    return kinds[hint]


def choices_of(name: str, hint: object) -> tuple[object, ...]:
    """The values an enum field takes; for ``type``, no event type may stand in for another."""
    return tuple(STRATEGIES) if name == "type" else get_args(hint)


def wrong_values(kind: Kind, choices: tuple[object, ...]) -> st.SearchStrategy[object]:
    """Values a field of this kind must refuse."""
    junk = st.booleans() | st.lists(st.integers(), max_size=2) | st.just({"a": 1})
    if kind == "str":
        return junk | st.none() | ints | floats
    if kind == "enum":
        return junk | st.none() | ints | st.text().filter(lambda text: text not in choices)
    if kind == "object":
        return st.booleans() | st.lists(st.integers(), max_size=2) | st.none() | ints | st.text()
    if kind in ("int", "percent"):
        numbers = st.floats() | st.text() | st.none() | junk
        if kind == "percent":
            return numbers | st.integers(max_value=-1) | st.integers(min_value=101)
        return numbers
    non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
    values = st.text() | junk | non_finite | st.just(10**400)
    return values if kind == "float_or_none" else values | st.none()


@pytest.mark.parametrize("type_name", sorted(STRATEGIES))
def test_field_kinds_cover_every_field(type_name: str) -> None:
    hints = HINTS[type_name]
    assert get_args(hints["type"]) == (type_name,)
    kinds = {name: kind_of(name, hint) for name, hint in hints.items() if name != "type"}
    assert {"job_id", "user_id", "ts"} <= set(kinds)
    assert {kinds["job_id"], kinds["user_id"], kinds["ts"]} == {"str", "int", "float"}


@pytest.mark.parametrize("type_name", sorted(STRATEGIES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_type_round_trips(type_name: str, data: st.DataObject) -> None:
    event = data.draw(STRATEGIES[type_name])
    line = encode_event(event)
    assert "\n" not in line
    assert list(json.loads(line)) == sorted(event)
    assert decode_event(line) == event
    assert set(REQUIRED[type_name]) <= set(event) <= set(HINTS[type_name])


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_malformed_payloads_raise_event_decode_error(data: st.DataObject) -> None:
    event = data.draw(st.sampled_from(SAMPLES))
    type_name = event["type"]
    hints = HINTS[type_name]
    fields = dict(event)
    mutation = data.draw(st.sampled_from(["drop", "add", "retype", "truncate", "trail"]))
    if mutation == "drop":
        del fields[data.draw(st.sampled_from(sorted(REQUIRED[type_name])))]
    elif mutation == "add":
        name = data.draw(st.text(max_size=12).filter(lambda text: text not in hints))
        fields[name] = data.draw(st.none() | ints | floats | st.text())
    elif mutation == "retype":
        name = data.draw(st.sampled_from(sorted(hints)))
        hint = hints[name]
        fields[name] = data.draw(wrong_values(kind_of(name, hint), choices_of(name, hint)))
    payload = json.dumps(fields)
    if mutation == "truncate":
        payload = payload[: data.draw(st.integers(min_value=0, max_value=len(payload) - 1))]
    elif mutation == "trail":
        payload += data.draw(st.sampled_from(["x", "}", ",", "{}", "[]", "0"]))
    with pytest.raises(EventDecodeError):
        decode_event(payload)


def test_a_fixed_thousand_malformed_payloads_raise_event_decode_error() -> None:
    payloads = [
        payload for type_name in sorted(STRATEGIES) for payload in malformed_variants(type_name)
    ]
    assert len(payloads) >= 1000
    for payload in payloads:
        with pytest.raises(EventDecodeError, match=r"\S"):
            decode_event(payload)


FIXED_WRONG: dict[Kind, list[object]] = {
    "str": [1, 1.5, True, None, [], {}, ["a"]],
    "int": [1.5, 1.0, -0.0, "1", True, False, None, [1], {}, math.nan],
    "percent": [-1, 101, 1000, 50.0, "50", True, None],
    "float": ["1.0", True, None, [], {}, math.nan, math.inf, -math.inf, 10**400],
    "float_or_none": ["1.0", False, [], {}, math.nan, math.inf, -math.inf, -(10**400)],
    "enum": ["", "nope", 1, None, True, ["train"]],
    "object": [[], "x", 1, None, True, {"a": math.nan}, {"a": [{"b": math.inf}]}],
}


def malformed_variants(type_name: str) -> list[str]:
    """Every field dropped, retyped and joined by strangers, plus broken JSON texts."""
    hints = HINTS[type_name]
    event = dict(FULL_EVENTS[type_name])
    variants: list[dict[str, object]] = []
    for name in sorted(REQUIRED[type_name]):
        variants.append({key: value for key, value in event.items() if key != name})
    for name, hint in hints.items():
        kind = kind_of(name, hint)
        enum_wrong = [str(choice).swapcase() for choice in get_args(hint)] if kind == "enum" else []
        variants.extend({**event, name: value} for value in FIXED_WRONG[kind] + enum_wrong)
    for extra in ("extra", "Type", "job-id", "", "val_loss", "loss_unit", "payload"):
        if extra not in hints:
            variants.extend({**event, extra: value} for value in (None, 1, "x"))
    for wrong_type in ("trainer.job.unknown.v1", type_name.replace("v1", "v2"), type_name.upper()):
        variants.append({**event, "type": wrong_type})
    payloads = [json.dumps(fields) for fields in variants]
    line = encode_event(FULL_EVENTS[type_name])
    payloads.extend(line[:cut] for cut in range(0, len(line), max(1, len(line) // 12)))
    payloads.extend(
        [line + "x", line + line, line.replace("{", "[", 1), line.replace(":", "=", 1), "'" + line]
    )
    payloads.extend(json.dumps(value) for value in ([dict(event)], type_name, 1, None, True))
    return payloads


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_arbitrary_text_is_refused_as_an_event(text: str) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(text)

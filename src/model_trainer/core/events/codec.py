"""Events to JSON lines and back, strictly.

One field table per event type (name -> kind) drives a single validator, used both ways:
``encode_event`` refuses an event that ``decode_event`` would refuse, so every line written
reads back. A field's kind is ``"str"``, ``"int"`` (a bool is not one), ``"float"`` (finite; an
int is taken and becomes a float), ``"float_or_none"``, ``"percent"`` (an int from 0 to 100), or
a tuple of the strings allowed.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, TypeGuard, get_args

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.errors import ModelTrainerErrorCode
from model_trainer.core.events.job_events import ErrorKind, JobEventType, JobEventV1, JobKind
from model_trainer.core.events.trainer_metrics_events import (
    TrainerMetricsEventType,
    TrainerMetricsEventV1,
)

Event = JobEventV1 | TrainerMetricsEventV1
EventType = JobEventType | TrainerMetricsEventType


class EventDecodeError(ValueError):
    """A payload that is not a valid event; the message names the field and the value."""


class EventEncodeError(ValueError):
    """An event that would not read back (a NaN, a bool for an int, ...); names the field."""


_Kind = Literal["str", "int", "float", "float_or_none", "percent"] | tuple[str, ...]

_JOB_KINDS: Final[tuple[str, ...]] = get_args(JobKind)
_ERROR_KINDS: Final[tuple[str, ...]] = get_args(ErrorKind)
_ERROR_CODES: Final[tuple[str, ...]] = get_args(ModelTrainerErrorCode)
_LOSS_UNITS: Final[tuple[str, ...]] = get_args(LossUnit)

_COMMON: Final[dict[str, _Kind]] = {"job_id": "str", "user_id": "int", "ts": "float"}

_REQUIRED: Final[dict[str, dict[str, _Kind]]] = {
    "trainer.job.started.v1": {
        **_COMMON,
        "queue": "str",
        "kind": _JOB_KINDS,
        "run_id": "str",
    },
    "trainer.job.progress.v1": {**_COMMON, "progress": "percent", "message": "str"},
    "trainer.job.completed.v1": {**_COMMON, "result_id": "str", "result_bytes": "int"},
    "trainer.job.failed.v1": {
        **_COMMON,
        "error_kind": _ERROR_KINDS,
        "code": _ERROR_CODES,
        "message": "str",
    },
    "trainer.metrics.config.v1": {
        **_COMMON,
        "model_family": "str",
        "model_size": "str",
        "total_epochs": "int",
        "queue": "str",
    },
    "trainer.metrics.progress.v1": {
        **_COMMON,
        "epoch": "int",
        "total_epochs": "int",
        "step": "int",
        "steps_per_epoch": "int",
        "loss": "float",
        "tokens_per_second": "float",
        "learning_rate": "float",
        "elapsed_s": "float",
    },
    "trainer.metrics.epoch.v1": {
        **_COMMON,
        "epoch": "int",
        "total_epochs": "int",
        "global_step": "int",
        "elapsed_s": "float",
        "train_loss": "float",
        "train_perplexity": "float",
        "val_loss": "float_or_none",
        "val_perplexity": "float_or_none",
        "tokens_per_second": "float",
        "learning_rate": "float",
        "loss_unit": _LOSS_UNITS,
    },
    "trainer.metrics.eval.v1": {
        **_COMMON,
        "epoch": "int",
        "global_step": "int",
        "val_loss": "float",
        "val_perplexity": "float",
        "loss_unit": _LOSS_UNITS,
    },
    "trainer.metrics.completed.v1": {
        **_COMMON,
        "loss": "float",
        "perplexity": "float",
        "artifact_path": "str",
    },
}

_OPTIONAL: Final[dict[str, dict[str, _Kind]]] = {
    "trainer.metrics.config.v1": {
        "cpu_cores": "int",
        "memory_mb": "int",
        "optimal_threads": "int",
        "optimal_workers": "int",
        "batch_size": "int",
        "steps_per_epoch": "int",
        "max_seq_len": "int",
        "vocab_size": "int",
        "learning_rate": "float",
        "chars_per_token": "float",
        "device": "str",
        "precision": "str",
        "tokenizer_kind": "str",
        "loss_unit": _LOSS_UNITS,
    },
    "trainer.metrics.completed.v1": {"val_loss": "float", "val_perplexity": "float"},
}

_FLOAT_KINDS: Final[tuple[_Kind, ...]] = ("float", "float_or_none")
_SHOW_CHARS: Final = 80


def encode_event(event: Event) -> str:
    """One JSON line (sorted keys, no newline) for an event; ints in float fields become floats.

    Raises:
        EventEncodeError: the event would not decode (a NaN or infinity, a bool for an int, a
            value outside its choices, a missing or an unknown field); names field and value.
    """
    normalized = _with_floats(dict(event))
    if not _is_event(normalized):
        raise EventEncodeError(f"{_problem(normalized)}")
    return json.dumps(normalized, sort_keys=True, allow_nan=False, separators=(",", ":"))


def decode_event(payload: str) -> Event:
    """The event one JSON payload holds, checked field by field against its type.

    Raises:
        EventDecodeError: bad JSON, not an object, an unknown type, a missing, extra or
            ill-typed field, a non-finite number or a value outside its choices.
    """
    return _decode(payload, where="")


def read_events(path: str | Path) -> list[Event]:
    """Every event of a JSON-lines file, in order; a final newline is optional.

    Raises:
        EventDecodeError: a line that is not a valid event (or not UTF-8); the message starts
            with the path and the line number.
    """
    lines = Path(path).read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [_decode_line(line, where=f"{path}:{number}: ") for number, line in enumerate(lines, 1)]


def _decode_line(line: bytes, *, where: str) -> Event:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventDecodeError(f"{where}line is not UTF-8 ({exc}): {_show(line)}") from exc
    return _decode(text, where=where)


def _decode(payload: str, *, where: str) -> Event:
    try:
        parsed: object = json.loads(payload, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise EventDecodeError(f"{where}not valid JSON ({exc}): {_show(payload)}") from exc
    if not isinstance(parsed, dict):
        raise EventDecodeError(
            f"{where}an event must be a JSON object, got {type(parsed).__name__} {_show(parsed)}"
        )
    normalized = _with_floats(parsed)
    if not _is_event(normalized):
        raise EventDecodeError(f"{where}{_problem(normalized)}")
    return normalized


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise EventDecodeError(f"duplicate field(s) {duplicates}")
    return obj


def _kinds(type_name: object) -> dict[str, _Kind]:
    """Required and optional field kinds of an event type; empty for an unknown one."""
    if not isinstance(type_name, str):
        return {}
    return {**_REQUIRED.get(type_name, {}), **_OPTIONAL.get(type_name, {})}


def _with_floats(obj: dict[str, object]) -> dict[str, object]:
    """A copy of obj with the ints of its float fields turned into floats."""
    kinds = _kinds(obj.get("type"))
    return {
        name: _float_if_int(value) if kinds.get(name) in _FLOAT_KINDS else value
        for name, value in obj.items()
    }


def _float_if_int(value: object) -> object:
    if type(value) is int and abs(value) <= sys.float_info.max:
        return float(value)
    return value


def _is_event(obj: Mapping[str, object]) -> TypeGuard[Event]:
    """Whether obj fits the field table of its type exactly."""
    return _problem(obj) is None


def _problem(obj: Mapping[str, object]) -> str | None:
    """The first way obj misfits the field table of its type, or None when it fits."""
    if "type" not in obj:
        return "field 'type' is missing"
    type_name = obj["type"]
    if not isinstance(type_name, str) or type_name not in _REQUIRED:
        return f"field 'type' must be a known event type, got {_show(type_name)}"
    required = _REQUIRED[type_name]
    optional = _OPTIONAL.get(type_name, {})
    for name, kind in required.items():
        if name not in obj:
            return f"{type_name}: field {name!r} is missing"
        if not _fits(kind, obj[name]):
            return _misfit(type_name, name, kind, obj[name])
    for name, value in obj.items():
        if name == "type" or name in required:
            continue
        if name not in optional:
            return f"{type_name}: unexpected field {name!r} = {_show(value)}"
        if not _fits(optional[name], value):
            return _misfit(type_name, name, optional[name], value)
    return None


def _fits(kind: _Kind, value: object) -> bool:
    if isinstance(kind, tuple):
        return isinstance(value, str) and value in kind
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return type(value) is int
    if kind == "percent":
        return type(value) is int and 0 <= value <= 100
    if kind == "float_or_none" and value is None:
        return True
    return type(value) is float and math.isfinite(value)


def _misfit(type_name: str, name: str, kind: _Kind, value: object) -> str:
    return f"{type_name}: field {name!r} must be {_describe(kind)}, got {_show(value)}"


def _describe(kind: _Kind) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(repr(choice) for choice in kind)
    descriptions: dict[str, str] = {
        "str": "a string",
        "int": "an integer",
        "float": "a finite number",
        "float_or_none": "a finite number or null",
        "percent": "an integer from 0 to 100",
    }
    return descriptions[kind]


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."

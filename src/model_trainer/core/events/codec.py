"""Events to JSON lines and back, strictly.

Each event type's shape is read from its TypedDict (``shapes.py``) and drives one check,
used both ways: ``encode_event`` refuses an event that ``decode_event`` would refuse, so every
line written reads back. ``encode_trainer_metrics_event`` / ``decode_trainer_metrics_event``
(in ``trainer_metrics_events``) do the same for the metrics events alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final, TypeGuard

from model_trainer.core.events.job_events import JOB_SHAPES, JobEventType, JobEventV1
from model_trainer.core.events.shapes import (
    EventDecodeError,
    EventEncodeError,
    Shape,
    decode,
    encode,
    misfit,
    show,
)
from model_trainer.core.events.trainer_metrics_events import (
    METRICS_SHAPES,
    TrainerMetricsEventType,
    TrainerMetricsEventV1,
)

Event = JobEventV1 | TrainerMetricsEventV1
EventType = JobEventType | TrainerMetricsEventType

__all__ = [
    "Event",
    "EventDecodeError",
    "EventEncodeError",
    "EventType",
    "decode_event",
    "encode_event",
    "read_events",
]

_SHAPES: Final[dict[str, Shape]] = {**JOB_SHAPES, **METRICS_SHAPES}


def encode_event(event: Event) -> str:
    """One JSON line (sorted keys, no newline) for an event; ints in float fields become floats.

    Raises:
        EventEncodeError: the event would not decode (a NaN or infinity, a bool for an int, a
            value outside its choices, a missing or an unknown field); names field and value.
    """
    return encode(event, _SHAPES)


def decode_event(payload: str) -> Event:
    """The event one JSON payload holds, checked field by field against its type.

    Raises:
        EventDecodeError: bad JSON, not an object, an unknown type, a missing, extra or
            ill-typed field, a non-finite number or a value outside its choices.
    """
    return decode(payload, _SHAPES, _is_event)


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
        raise EventDecodeError(f"{where}line is not UTF-8 ({exc}): {show(line)}") from exc
    return decode(text, _SHAPES, _is_event, where=where)


def _is_event(obj: Mapping[str, object]) -> TypeGuard[Event]:
    """Whether obj fits the shape of its type exactly, as a JSON line must."""
    return misfit(obj, _SHAPES, wire=True) is None

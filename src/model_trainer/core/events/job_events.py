"""Job lifecycle events of the ``trainer`` domain: started, progress, completed, failed.

Each event is a TypedDict with a ``Literal`` ``type`` and a keyword-only factory. The spec's
fields are required; the fields this project adds (``ts``, unix time in seconds, on every event;
``kind`` and ``run_id`` on started; ``code`` on failed) are written by every factory and read
as optional, so a payload of the spec's shape decodes too. The guards check the whole shape.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final, Literal, NotRequired, TypedDict, TypeGuard

from model_trainer.core.errors import ModelTrainerErrorCode
from model_trainer.core.events.shapes import Shape, misfit, shapes_of

JobEventType = Literal[
    "trainer.job.started.v1",
    "trainer.job.progress.v1",
    "trainer.job.completed.v1",
    "trainer.job.failed.v1",
]
JobKind = Literal[
    "train", "eval", "score", "generate", "tokenizer", "lr_find", "sweep", "score_corpus"
]
ErrorKind = Literal["user", "system"]
WarningKind = Literal["sink_off", "after_training"]
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


class JobStartedV1(TypedDict):
    """A job began running."""

    type: Literal["trainer.job.started.v1"]
    job_id: str
    user_id: int
    queue: str
    ts: NotRequired[float]
    kind: NotRequired[JobKind]
    run_id: NotRequired[str]


class JobProgressV1(TypedDict):
    """How far a job is, in percent (0 to 100), with a short message and any JSON payload."""

    type: Literal["trainer.job.progress.v1"]
    job_id: str
    user_id: int
    progress: int
    message: str
    payload: NotRequired[dict[str, JsonValue]]
    ts: NotRequired[float]


class JobCompletedV1(TypedDict):
    """A job finished; its result is ``result_id`` and is ``result_bytes`` long."""

    type: Literal["trainer.job.completed.v1"]
    job_id: str
    user_id: int
    result_id: str
    result_bytes: int
    ts: NotRequired[float]


class JobFailedV1(TypedDict):
    """A job stopped with an error; ``error_kind`` says whose it is to fix."""

    type: Literal["trainer.job.failed.v1"]
    job_id: str
    user_id: int
    error_kind: ErrorKind
    message: str
    ts: NotRequired[float]
    code: NotRequired[ModelTrainerErrorCode]


JobEventV1 = JobStartedV1 | JobProgressV1 | JobCompletedV1 | JobFailedV1

JOB_SHAPES: Final[dict[str, Shape]] = shapes_of(
    (JobStartedV1, JobProgressV1, JobCompletedV1, JobFailedV1), percent=frozenset({"progress"})
)


def make_started_event(
    *,
    job_id: str,
    user_id: int,
    kind: JobKind,
    run_id: str,
    queue: str = "local",
    ts: float | None = None,
) -> JobStartedV1:
    """Build a ``trainer.job.started.v1`` event."""
    return {
        "type": "trainer.job.started.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "queue": queue,
        "kind": kind,
        "run_id": run_id,
    }


def make_progress_event(
    *,
    job_id: str,
    user_id: int,
    progress: int,
    message: str,
    payload: dict[str, JsonValue] | None = None,
    ts: float | None = None,
) -> JobProgressV1:
    """Build a ``trainer.job.progress.v1`` event; ``progress`` is a percent, 0 to 100.

    A ``payload`` left None is omitted.
    """
    event: JobProgressV1 = {
        "type": "trainer.job.progress.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "progress": progress,
        "message": message,
    }
    if payload is not None:
        event["payload"] = payload
    return event


def make_warning_event(
    *,
    job_id: str,
    user_id: int,
    progress: int,
    warning: WarningKind,
    code: ModelTrainerErrorCode,
    message: str,
    details: dict[str, JsonValue],
    ts: float | None = None,
) -> JobProgressV1:
    """Build a warning: a ``trainer.job.progress.v1`` event the job goes on (or ends) after.

    ``payload["warning"]`` says what it goes without (``sink_off``: a watcher of its events;
    ``after_training``: files written after training), ``payload["code"]`` the error's code,
    beside ``details``; the message starts with ``warning:``.
    """
    return make_progress_event(
        job_id=job_id,
        user_id=user_id,
        progress=progress,
        message=f"warning: {message}",
        payload={"warning": warning, "code": code, **details},
        ts=ts,
    )


def make_completed_event(
    *,
    job_id: str,
    user_id: int,
    result_id: str,
    result_bytes: int,
    ts: float | None = None,
) -> JobCompletedV1:
    """Build a ``trainer.job.completed.v1`` event."""
    return {
        "type": "trainer.job.completed.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "result_id": result_id,
        "result_bytes": result_bytes,
    }


def make_failed_event(
    *,
    job_id: str,
    user_id: int,
    error_kind: ErrorKind,
    code: ModelTrainerErrorCode,
    message: str,
    ts: float | None = None,
) -> JobFailedV1:
    """Build a ``trainer.job.failed.v1`` event."""
    return {
        "type": "trainer.job.failed.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "error_kind": error_kind,
        "code": code,
        "message": message,
    }


def is_started(event: Mapping[str, object]) -> TypeGuard[JobStartedV1]:
    """Whether an event has the shape of ``trainer.job.started.v1``, field by field."""
    return _fits(event, "trainer.job.started.v1")


def is_job_progress(event: Mapping[str, object]) -> TypeGuard[JobProgressV1]:
    """Whether an event has the shape of ``trainer.job.progress.v1``, field by field."""
    return _fits(event, "trainer.job.progress.v1")


def is_completed(event: Mapping[str, object]) -> TypeGuard[JobCompletedV1]:
    """Whether an event has the shape of ``trainer.job.completed.v1``, field by field."""
    return _fits(event, "trainer.job.completed.v1")


def is_failed(event: Mapping[str, object]) -> TypeGuard[JobFailedV1]:
    """Whether an event has the shape of ``trainer.job.failed.v1``, field by field."""
    return _fits(event, "trainer.job.failed.v1")


def _fits(event: Mapping[str, object], type_name: JobEventType) -> bool:
    return event.get("type") == type_name and misfit(event, JOB_SHAPES, wire=False) is None

"""A run's ``job.json``: its state, heartbeat and error, rewritten atomically.

The file is replaced as a whole (a temporary file, then ``os.replace``), so a reader never
sees half of it, and it is read back strictly: a field of the wrong type is an error that
names the file, the field and the value.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Final, TypedDict, TypeVar, get_args

from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode
from model_trainer.core.events.job_events import JobKind
from model_trainer.core.jobs.runner import JobState

JOB_FILE: Final = "job.json"
HEARTBEAT_EVERY_S: Final = 1.0

_STATES: Final[tuple[JobState, ...]] = get_args(JobState)
_KINDS: Final[tuple[JobKind, ...]] = get_args(JobKind)
_CODES: Final[tuple[ModelTrainerErrorCode, ...]] = get_args(ModelTrainerErrorCode)
ChoiceT = TypeVar("ChoiceT", bound=str)


class JobRecord(TypedDict):
    """What ``job.json`` holds; times are unix seconds."""

    run_id: str
    job_id: str
    kind: JobKind
    state: JobState
    pid: int
    started_at: float
    heartbeat_at: float
    epochs_done: int
    last_val_loss: float | None
    error_code: ModelTrainerErrorCode | None
    error_message: str | None


def job_path(run_dir: str | Path) -> Path:
    """Where a run's ``job.json`` lies."""
    return Path(run_dir) / JOB_FILE


def write_json_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (temporary file, then ``os.replace``).

    Raises:
        ModelTrainerError: ``ARTIFACT_UPLOAD_FAILED`` naming the path when it cannot be written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ModelTrainerError("ARTIFACT_UPLOAD_FAILED", f"cannot write {path}: {exc}") from exc


def write_job(run_dir: str | Path, record: JobRecord) -> None:
    """Write ``record`` as the run's ``job.json``, atomically."""
    write_json_atomic(job_path(run_dir), json.dumps(record, indent=2, sort_keys=True) + "\n")


def _bad(path: Path, field: str, value: object, rule: str) -> ModelTrainerError:
    return ModelTrainerError(
        "MODEL_LOAD_FAILED", f"{path}: field {field!r} must be {rule}, got {value!r}"
    )


def _str(path: Path, data: dict[str, object], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str):
        raise _bad(path, field, value, "a string")
    return value


def _int(path: Path, data: dict[str, object], field: str) -> int:
    value = data.get(field)
    if type(value) is not int:
        raise _bad(path, field, value, "an integer")
    return value


def _float(path: Path, data: dict[str, object], field: str) -> float:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(path, field, value, "a finite number")
    return float(value)


def _choice(
    path: Path, data: dict[str, object], field: str, allowed: tuple[ChoiceT, ...]
) -> ChoiceT:
    value = data.get(field)
    for choice in allowed:
        if value == choice:
            return choice
    raise _bad(path, field, value, "one of " + ", ".join(allowed))


def read_job(run_dir: str | Path) -> JobRecord:
    """Read a run's ``job.json``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when there is none; ``MODEL_LOAD_FAILED`` when
            it is not a JSON object of the expected fields.
    """
    path = job_path(run_dir)
    if not path.is_file():
        raise ModelTrainerError("MODEL_NOT_FOUND", f"no job file at {path}")
    try:
        raw: object = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelTrainerError("MODEL_LOAD_FAILED", f"{path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED", f"{path} must hold a JSON object, got {type(raw).__name__}"
        )
    data = {str(key): value for key, value in raw.items()}
    val_loss = data.get("last_val_loss")
    code = data.get("error_code")
    message = data.get("error_message")
    return {
        "run_id": _str(path, data, "run_id"),
        "job_id": _str(path, data, "job_id"),
        "kind": _choice(path, data, "kind", _KINDS),
        "state": _choice(path, data, "state", _STATES),
        "pid": _int(path, data, "pid"),
        "started_at": _float(path, data, "started_at"),
        "heartbeat_at": _float(path, data, "heartbeat_at"),
        "epochs_done": _int(path, data, "epochs_done"),
        "last_val_loss": None if val_loss is None else _float(path, data, "last_val_loss"),
        "error_code": None if code is None else _choice(path, data, "error_code", _CODES),
        "error_message": None if message is None else _str(path, data, "error_message"),
    }


def new_job_record(*, run_id: str, job_id: str, kind: JobKind, now: float) -> JobRecord:
    """A ``queued`` record of this process, with no epochs done and no error."""
    return {
        "run_id": run_id,
        "job_id": job_id,
        "kind": kind,
        "state": "queued",
        "pid": os.getpid(),
        "started_at": now,
        "heartbeat_at": now,
        "epochs_done": 0,
        "last_val_loss": None,
        "error_code": None,
        "error_message": None,
    }


class JobRecorder:
    """Keeps a run's ``job.json`` up to date from the job's thread.

    State changes and finished epochs are written at once; heartbeats at most once every
    ``HEARTBEAT_EVERY_S`` seconds.
    """

    def __init__(self, run_dir: str | Path, record: JobRecord) -> None:
        self.run_dir = Path(run_dir)
        self._record: JobRecord = {**record}
        self._lock = threading.Lock()
        self._last_write = -math.inf

    @property
    def record(self) -> JobRecord:
        """A copy of the record as last set."""
        with self._lock:
            return {**self._record}

    def _write(self, now: float) -> None:
        self._record["heartbeat_at"] = now
        self._last_write = now
        write_job(self.run_dir, self._record)

    def write(self) -> None:
        """Write the record now, with a fresh heartbeat."""
        with self._lock:
            self._write(time.time())

    def heartbeat(self, now: float) -> None:
        """Note that the job is alive at ``now``; written when the last write is old enough."""
        with self._lock:
            if now - self._last_write >= HEARTBEAT_EVERY_S:
                self._write(now)

    def set_state(self, state: JobState, error: ModelTrainerError | None) -> None:
        """Record a new state and its error (None clears the error), and write."""
        with self._lock:
            self._record["state"] = state
            self._record["pid"] = os.getpid()
            self._record["error_code"] = None if error is None else error.code
            self._record["error_message"] = None if error is None else error.message
            self._write(time.time())

    def epoch_done(self, epochs_done: int, val_loss: float | None) -> None:
        """Record a finished epoch and its validation loss, and write."""
        with self._lock:
            self._record["epochs_done"] = epochs_done
            self._record["last_val_loss"] = val_loss
            self._write(time.time())

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
from typing import Final, TypedDict

from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode
from model_trainer.core.events.job_events import JobKind
from model_trainer.core.faults import writing
from model_trainer.core.jobs.runner import JobState

JOB_FILE: Final = "job.json"
HEARTBEAT_EVERY_S: Final = 1.0


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
        with writing(path):
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_job(run_dir: str | Path, record: JobRecord) -> None:
    """Write ``record`` as the run's ``job.json``, atomically."""
    write_json_atomic(job_path(run_dir), json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_job(run_dir: str | Path) -> JobRecord:
    """Read a run's ``job.json``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when there is none; ``MODEL_LOAD_FAILED``
            naming the file, the field and the value when it is not a JSON object of the
            expected fields (times and losses finite).
    """
    path = job_path(run_dir)
    if not path.is_file():
        raise ModelTrainerError("MODEL_NOT_FOUND", f"no job file at {path}")
    return read_typed(
        path, JobRecord, where=str(path), code="MODEL_LOAD_FAILED", unknown="ignore", finite=True
    )


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

"""One writer per run: an OS lock on ``writer.lock`` in the run folder, held while it writes.

The train job takes the lock before it writes ``job.json`` and lets it go after its last
event (``fcntl.flock``, exclusive): a second writer, in this process or another, is refused
while the first lives, even when the first is paused (Ctrl-Z, a laptop asleep) past its
heartbeat timeout. The OS frees the lock when its process ends, however it ends, so a run
still marked active whose lock is free has lost its writer: the listing says so at once.
The file holds the writer's pid, for the messages.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing

LOCK_FILE: Final = "writer.lock"
TRIES: Final = 5
RETRY_S: Final = 0.02
WriterState = Literal["live", "gone", "unknown"]
"""``live``: a process holds the lock; ``gone``: nobody does; ``unknown``: no lock file."""


def _open(path: Path, flags: int) -> int:
    with writing(path):
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)


def _try_lock(fd: int, mode: int) -> bool:
    """Take the lock ``mode`` on ``fd`` without waiting; False when another holder has it."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(path: Path) -> str:
    """The pid written in the lock file at ``path``, as the messages name it."""
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    return f"process {text}" if text.isdigit() else "another process"


class RunLock:
    """The held writer lock of one run; ``release`` (or the process's end) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """Whether this lock is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Let the lock go (once; later calls do nothing)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def hold_run_lock(folder: Path, run_id: str) -> RunLock:
    """Take the writer lock of the run in ``folder`` for this process, and write its pid.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the process that holds it (the run has
            a live writer); ``ARTIFACT_UPLOAD_FAILED`` when the lock file cannot be opened.
    """
    path = folder / LOCK_FILE
    fd = _open(path, os.O_RDWR | os.O_CREAT)
    # A listing's probe holds the lock shared for an instant: try a few times.
    for attempt in range(TRIES):
        if _try_lock(fd, fcntl.LOCK_EX):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return RunLock(path, fd)
        if attempt + 1 < TRIES:
            time.sleep(RETRY_S)
    os.close(fd)
    raise ModelTrainerError(
        "INVALID_CONFIG",
        f"run_id {run_id!r} is being written by {holder(path)}, which holds {str(path)!r} "
        f"(it may be paused); stop that process or wait for it to end",
    )


def writer_state(folder: Path) -> WriterState:
    """Whether a live process holds the writer lock of the run in ``folder``."""
    path = folder / LOCK_FILE
    if not path.is_file():
        return "unknown"
    fd = _open(path, os.O_RDONLY)
    free = _try_lock(fd, fcntl.LOCK_SH)
    os.close(fd)
    return "gone" if free else "live"

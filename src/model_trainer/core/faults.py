"""Faults of the machine as coded errors: one place maps a failed write to what the user can do.

A full disk, a file-size limit, a read-only or immutable folder, a file where a folder should
be or a folder where a file should be: each becomes ``ARTIFACT_UPLOAD_FAILED`` naming the
path, the cause and what to do. Every writer runs its writes inside ``writing(path)``; the job
and command-line boundaries map any ``OSError`` that is left the same way (``machine_fault``).
"""

from __future__ import annotations

import errno
import os
import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from model_trainer.core.errors import ModelTrainerError

FREE_SPACE: Final = "free space there or point the runs folder elsewhere (runs_dir, --runs-dir)"
NEARLY_FULL: Final = 1 << 20
"""Free bytes under which a disk that refused a write is taken to be full."""
IMMUTABLE: Final = "remove the immutable flag (chattr -i) or choose another folder"
CAUSES: Final[dict[int, tuple[str, str]]] = {
    errno.ENOSPC: ("no space left on its device", FREE_SPACE),
    errno.EDQUOT: ("the disk quota is used up", FREE_SPACE),
    errno.EFBIG: (
        "too large for this process's file-size limit (ulimit -f)",
        "raise the limit (ulimit -f unlimited) or write a smaller file",
    ),
    errno.EROFS: ("read-only file system", "write to a writable folder instead"),
    errno.EACCES: ("read-only (permission denied)", "make it writable or choose another folder"),
    errno.EPERM: ("read-only (immutable or not permitted)", IMMUTABLE),
    errno.ENOTDIR: (
        "not a folder (a file is where a folder should be)",
        "move that file away or choose another folder",
    ),
    errno.EEXIST: (
        "in the way (a file or folder already has that name)",
        "move it away or choose another name",
    ),
    errno.EISDIR: (
        "in the way (a folder is where a file should be)",
        "give a file path, not a folder",
    ),
    errno.ELOOP: (
        "in the way (a symbolic link has that name)",
        "remove the link or choose another folder",
    ),
    errno.ENOENT: ("its folder does not exist", "create the folder first or choose another"),
}
"""What each error number means for a path being written, and what to do about it."""


def fault_cause(number: int | None, fallback: str) -> tuple[str, str]:
    """The cause and the advice for an error number; ``fallback`` is the cause when unknown."""
    unknown = (fallback, "check the path and the disk it is on")
    return unknown if number is None else CAUSES.get(number, unknown)


def _guess_number(exc: BaseException, path: Path) -> int | None:
    """The error number of a library's failed write (it keeps none).

    The number its message quotes, else the likely one: a nearly full disk, a file-size limit.
    """
    quoted = re.search(r"os error (\d+)", str(exc))
    if quoted is not None:
        return int(quoted.group(1))
    folder = next((parent for parent in (path, *path.parents) if parent.is_dir()), Path("/"))
    disk = os.statvfs(folder)
    if disk.f_bavail * disk.f_frsize < NEARLY_FULL:
        return errno.ENOSPC
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return errno.EFBIG
    return None


def machine_fault(
    exc: BaseException, path: str | os.PathLike[str] | None = None
) -> ModelTrainerError:
    """``ARTIFACT_UPLOAD_FAILED`` naming the path written, the cause and what to do.

    The path is ``path``, else the one the ``OSError`` names. An error of a library that
    keeps no error number (torch, safetensors) gives the one its message quotes, else is
    read against the disk's free space and the process's file-size limit.
    """
    named = exc.filename if path is None and isinstance(exc, OSError) else path
    where = "a file" if named is None else os.fsdecode(named)
    if isinstance(exc, OSError):
        number = exc.errno
        fallback = exc.strerror or str(exc)
    else:
        number = _guess_number(exc, Path(where))
        fallback = f"{type(exc).__name__}: {exc}"
    cause, advice = fault_cause(number, fallback)
    return ModelTrainerError("ARTIFACT_UPLOAD_FAILED", f"cannot write {where}: {cause}; {advice}")


@contextmanager
def writing(path: str | os.PathLike[str], *library: type[Exception]) -> Iterator[None]:
    """Run a block that writes ``path``; its ``OSError`` becomes ``machine_fault``.

    ``library`` names the errors of libraries that report a failed write their own way
    (torch's ``RuntimeError``, ``SafetensorError``). What was written before stays as it was.
    """
    caught: tuple[type[Exception], ...] = (OSError, *library)
    try:
        yield
    except caught as exc:
        raise machine_fault(exc, path) from exc

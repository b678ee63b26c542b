"""Cache entries that heal themselves: a damaged entry is discarded and rebuilt, once.

Every entry of the token cache (a split, a tokenizer, an ids file and its record) is read
through ``healed``. An entry that is absent is built. One that is present but cannot be
read, or disagrees with its record or tokenizer, is discarded, rebuilt and read again, and
the rebuild is told to ``Repairs`` (the run reports it as an event). An entry still
damaged right after it was built is an error that names it: something other than a crash
or a stray edit is at work (a failing disk, a bug), and a third build would fare no better.
Every step runs under the lock of the entry's folder (``cache.locked``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode

T = TypeVar("T")
ENTRY: Final = "token cache entry"
DAMAGED: Final[ModelTrainerErrorCode] = "ARTIFACT_DOWNLOAD_FAILED"
"""The code of a cache entry that cannot be read back right after it was built."""
SCRATCH_GLOB: Final = ".*.tmp"
"""Temporary files of a build in progress (``cache.temporary``)."""


class Repairs:
    """The entries rebuilt so far, each told once to the next ``report``."""

    def __init__(self) -> None:
        self._pending: list[str] = []

    def add(self, message: str) -> None:
        """Note one rebuilt entry."""
        self._pending.append(message)

    def report(self, tell: Callable[[str, float], None]) -> None:
        """Tell each rebuild not told yet to ``tell`` (a ``prepare.Stage``), as done."""
        for message in self._pending:
            tell(message, 1.0)
        self._pending.clear()


def clear_scratch(folder: Path) -> list[Path]:
    """Remove the temporary files a killed build left in ``folder``; returns them.

    Call with the folder's lock held: no build of this folder is then in progress.
    """
    found = sorted(folder.glob(SCRATCH_GLOB))
    for path in found:
        path.unlink(missing_ok=True)
    return found


def discard(path: Path) -> None:
    """Remove ``path`` (a file, or a folder in the place of one), if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def damaged(entry: Path, detail: str) -> ModelTrainerError:
    """The error a reader raises for ``entry`` when it cannot be used as it is.

    Raises nothing: the caller raises it.
    """
    return ModelTrainerError(DAMAGED, f"{ENTRY} {str(entry)!r}: {detail}")


def healed(
    entry: Path,
    *,
    present: bool,
    read: Callable[[], T],
    build: Callable[[], None],
    repairs: Repairs,
) -> tuple[T, bool]:
    """``read()`` of ``entry``, built first when absent or damaged; True when built.

    ``read`` raises a ``ModelTrainerError`` when the entry cannot be used (see
    ``damaged``); ``build`` replaces whatever is there.

    Raises:
        ModelTrainerError: ``ARTIFACT_DOWNLOAD_FAILED`` naming ``entry`` when it cannot be
            read right after it was built; the errors of ``build``.
    """
    if present:
        try:
            return read(), False
        except ModelTrainerError as exc:
            named = (
                exc.message
                if exc.message.startswith(ENTRY)
                else f"{ENTRY} {str(entry)!r}: {exc.message}"
            )
            repairs.add(f"{named}; rebuilding it")
    build()
    try:
        return read(), True
    except ModelTrainerError as exc:
        raise ModelTrainerError(
            DAMAGED,
            f"{ENTRY} {str(entry)!r} cannot be read right after it was built "
            f"({exc.message}); check the disk, then remove {str(entry.parent)!r} and run "
            f"again",
        ) from exc

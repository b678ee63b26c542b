"""Keeping the token cache within its size: the least recently used sources go first.

Each source's folder under ``<runs_dir>/.cache/`` (its split, tokenizers and ids) is stamped
each time a run or a search uses it (``mark_used``). Once a run has built new files,
``trim_cache`` removes whole source folders, the least recently used first, until the cache
holds at most ``settings["cache_max_mb"]`` (0: no limit). It never removes the folder in use,
a folder another process is building (its lock is held), or ``sources/``: the saved
in-memory corpora that runs read again when resumed. A removed folder is rebuilt when a run
needs it again; a run that has it memory-mapped reads on unharmed.
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path
from typing import Final, TypedDict

from model_trainer.core.data.cache import LOCK_FILE
from model_trainer.core.data.memory import SOURCES_DIR

USED_FILE: Final = ".used"
MB: Final = 1 << 20


class Evicted(TypedDict):
    """What a trim removed: the source folders and the bytes they held."""

    folders: list[str]
    freed_bytes: int


def mark_used(folder: Path) -> None:
    """Stamp source folder ``folder`` as used now."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / USED_FILE).touch()


def folder_bytes(folder: Path) -> int:
    """The bytes of every file under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def last_used(folder: Path) -> float:
    """When ``folder`` was last used: its stamp's time, else the folder's own."""
    stamp = folder / USED_FILE
    return (stamp if stamp.is_file() else folder).stat().st_mtime


def _remove_unless_busy(folder: Path) -> bool:
    """Remove ``folder`` unless another builder holds its lock; True when removed."""
    with (folder / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(folder)
    return True


def trim_cache(root: Path, max_bytes: int, *, keep: Path | None = None) -> Evicted:
    """Remove the least recently used source folders of cache ``root`` past ``max_bytes``.

    ``keep`` (the folder in use) and ``sources/`` stay, as do folders being built.
    """
    folders = [
        path
        for path in (root.iterdir() if root.is_dir() else [])
        if path.is_dir() and path.name != SOURCES_DIR and path != keep
    ]
    sizes = {folder: folder_bytes(folder) for folder in folders}
    total = folder_bytes(root) if root.is_dir() else 0
    removed: list[str] = []
    freed = 0
    for folder in sorted(folders, key=last_used):
        if total - freed <= max_bytes:
            break
        if _remove_unless_busy(folder):
            removed.append(folder.name)
            freed += sizes[folder]
    return {"folders": removed, "freed_bytes": freed}


def keep_within(root: Path, max_mb: int, *, keep: Path) -> Evicted:
    """``trim_cache`` to the ``cache_max_mb`` setting ``max_mb`` (0: nothing is removed)."""
    if max_mb == 0:
        return {"folders": [], "freed_bytes": 0}
    return trim_cache(root, max_mb * MB, keep=keep)

"""A scoring's folder under the runs folder: its manifest, its parts, and what is done.

```
<runs_dir>/<name>/
  scoring.json                  the manifest: source, models, config (written once)
  job.json, events.jsonl        the job's state and events, as a training run's
  source.jsonl                  a corpus given in memory, saved with its metadata
  documents/part-<window>.parquet, words/..., characters/...
  done/<window>.json            the window's totals: written last, so a window is done
                                exactly when its marker is there
```

Documents are read in windows of ``window_docs`` (window ``k`` holds documents
``k * window_docs`` and on); each window's parts are written under temporary names, renamed
into place, then its marker is written. Opening the folder again discards a temporary part
and a part without a marker (the window was cut short), so a window is scored once or again
whole, never twice in the tables.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Final, TypedDict

from model_trainer.core.analysis.parquet import PART_SUFFIX, TEMP_SUFFIX
from model_trainer.core.contracts.corpus import CorpusScoreConfig, ModelTotals, TableName
from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing

MANIFEST_FILE: Final = "scoring.json"
SOURCE_FILE: Final = "source.jsonl"
DONE_DIR: Final = "done"


class SourceInfo(TypedDict):
    """Where the documents come from: a path (or the saved in-memory corpus) and its print."""

    path: str
    fingerprint: str


class ScoringManifest(TypedDict):
    """What ``scoring.json`` holds: enough to resume, list and reopen the scoring."""

    kind: str
    name: str
    created_at: float
    source: SourceInfo
    models: dict[str, str]
    config: CorpusScoreConfig


class WindowTotals(TypedDict):
    """A finished window: its documents and characters, and each model's totals there."""

    window: int
    documents: int
    chars: int
    models: dict[str, ModelTotals]


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a temporary file, then a rename).

    The temporary file is this process's own, so processes writing the same file never mix.
    """
    temporary = path.with_name(f"{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    with writing(path):
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)


def new_manifest(
    name: str, source: SourceInfo, models: dict[str, str], cfg: CorpusScoreConfig
) -> ScoringManifest:
    """The manifest of a scoring started now."""
    return {
        "kind": "scoring",
        "name": name,
        "created_at": time.time(),
        "source": source,
        "models": models,
        "config": cfg,
    }


def is_scoring(folder: Path) -> bool:
    """Whether ``folder`` holds a scoring (its manifest)."""
    return (folder / MANIFEST_FILE).is_file()


def read_scoring(folder: Path) -> ScoringManifest:
    """The manifest of the scoring in ``folder``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when there is none; ``MODEL_LOAD_FAILED`` for
            one that cannot be read.
    """
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ModelTrainerError("MODEL_NOT_FOUND", f"no scoring in {str(folder)!r}")
    return read_typed(path, ScoringManifest, where=str(path), code="MODEL_LOAD_FAILED")


def create_folder(folder: Path, manifest: ScoringManifest) -> None:
    """Make the scoring's folder and its table folders, and write its manifest."""
    with writing(folder):
        for table in (*manifest["config"]["tables"], DONE_DIR):
            (folder / table).mkdir(parents=True, exist_ok=True)
    write_atomic(folder / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")


def part_path(folder: Path, table: TableName, window: int) -> Path:
    """Where window ``window``'s part of ``table`` lies."""
    return folder / table / f"part-{window:08d}{PART_SUFFIX}"


def _marker(folder: Path, window: int) -> Path:
    return folder / DONE_DIR / f"{window:08d}.json"


def mark_done(folder: Path, totals: WindowTotals) -> None:
    """Record the window as done: its parts are in place."""
    write_atomic(_marker(folder, totals["window"]), json.dumps(totals) + "\n")


def done_windows(folder: Path) -> dict[int, WindowTotals]:
    """The totals of every finished window, by window."""
    found: dict[int, WindowTotals] = {}
    for path in sorted((folder / DONE_DIR).glob("*.json")):
        totals = read_typed(path, WindowTotals, where=str(path), code="MODEL_LOAD_FAILED")
        found[totals["window"]] = totals
    return found


def discard_torn(folder: Path, tables: list[TableName]) -> None:
    """Remove temporary files and the parts of windows without a marker."""
    done = done_windows(folder)
    for table in (*tables, DONE_DIR):
        for path in (folder / table).glob(f"*{TEMP_SUFFIX}"):
            path.unlink()
    for table in tables:
        for path in (folder / table).glob(f"part-*{PART_SUFFIX}"):
            if int(path.name[5:13]) not in done:
                path.unlink()


def finished_parts(folder: Path, table: TableName) -> list[Path]:
    """The parts of ``table`` whose windows are done, in window order."""
    done = done_windows(folder)
    return [part_path(folder, table, window) for window in sorted(done)]

"""The runs folder: one folder per run, named by its run id, and a listing of them all.

A run folder holds ``manifest.json``, ``job.json``, ``events.jsonl``, ``checkpoint/``,
``tokenizer.json``, ``model/`` and at the end ``curves.png`` and ``report.html``. The listing
reads only files, so it works in a fresh process. A run still marked ``queued`` or
``running`` lost its process when nobody holds its writer lock (``run_lock.py``), and is
marked ``failed`` on the spot; a run whose lock is held is never called dead, however old
its heartbeat. A run without a lock file (from before the lock) is dead when its heartbeat
is older than ``settings["heartbeat_timeout_s"]``.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, TypedDict

from model_trainer.core.analysis.folder import is_scoring, read_scoring
from model_trainer.core.config.settings import Settings
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.job_store import JOB_FILE, JobRecord, read_job, write_job
from model_trainer.core.jobs.run_lock import LOCK_FILE, writer_state
from model_trainer.core.jobs.runner import JobState
from model_trainer.core.training.checkpoint import CHECKPOINT_DIR
from model_trainer.core.training.manifest import read_manifest

RUN_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
EVENTS_FILE: Final = "events.jsonl"
TOKENIZER_FILE: Final = "tokenizer.json"
MODEL_DIR: Final = "model"

CURVES_FILE: Final = "curves.png"
REPORT_FILE: Final = "report.html"
ACTIVE_STATES: Final[tuple[JobState, ...]] = ("queued", "running")
RUN_FILES: Final = (
    JOB_FILE,
    "manifest.json",
    EVENTS_FILE,
    TOKENIZER_FILE,
    MODEL_DIR,
    CHECKPOINT_DIR,
    CURVES_FILE,
    REPORT_FILE,
    LOCK_FILE,
)
RunState = JobState | Literal["unreadable"]
RunKind = Literal["training", "scoring"]


class RunSummary(TypedDict):
    """One line of the runs listing; ``started_at`` is ISO 8601 in UTC.

    A run whose ``job.json`` or ``manifest.json`` cannot be read is listed as
    ``unreadable``, with the reason in ``problem`` (None for every readable run). A
    scoring (``kind`` ``scoring``: ``score_corpus``'s folder) names its models, joined by
    ``,``, as its ``model_family``, and has no size, epochs or loss.
    """

    run_id: str
    kind: RunKind
    state: RunState
    model_family: str
    model_size: str
    epochs_done: int
    total_epochs: int
    last_val_loss: float | None
    started_at: str
    problem: str | None


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` when it is a safe folder name, else raise ``INVALID_CONFIG``.

    A run id is a letter or digit, then up to 99 letters, digits, ``_``, ``.`` or ``-``,
    and never holds ``..``.
    """
    if not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"run_id must be a letter or digit followed by up to 99 letters, digits, "
            f"'_', '.' or '-' (and no '..'), got {run_id!r}",
        )
    return run_id


def new_run_id(model_family: str, model_size: str, *, now: datetime | None = None) -> str:
    """``<family>-<size>-<UTC yyyymmdd-HHMMSS>-<4 hex>``, a fresh run id."""
    stamp = (datetime.now(UTC) if now is None else now).strftime("%Y%m%d-%H%M%S")
    return validate_run_id(f"{model_family}-{model_size}-{stamp}-{secrets.token_hex(2)}")


def run_dir(settings: Settings, run_id: str) -> Path:
    """The folder of ``run_id`` in ``settings["runs_dir"]`` (whether or not it exists).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a bad run id, or when the folder or one of
            its run files is a link that leads outside the runs folder (nothing is ever
            written through it).
    """
    root = Path(settings["runs_dir"])
    folder = root / validate_run_id(run_id)
    inside = root.resolve()
    for path in (folder, *(folder / name for name in RUN_FILES)):
        target = path.resolve()
        if path.is_symlink() and not target.is_relative_to(inside):
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"run_id {run_id!r}: {str(path)!r} is a link to {str(target)!r}, outside the "
                f"runs folder {str(inside)!r}; remove the link",
            )
    return folder


def existing_run_dir(settings: Settings, run_id: str) -> Path:
    """The folder of an existing run.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a bad run id; ``MODEL_NOT_FOUND`` when
            ``runs_dir`` holds no run of that id.
    """
    folder = run_dir(settings, run_id)
    if not (folder / JOB_FILE).is_file():
        raise ModelTrainerError(
            "MODEL_NOT_FOUND", f"run_id {run_id!r}: no run in {settings['runs_dir']!r}"
        )
    return folder


def require_model(settings: Settings, run_id: str) -> Path:
    """The folder of an existing run that has saved its model.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a bad run id; ``MODEL_NOT_FOUND`` when
            there is no such run or it has no ``model/`` yet.
    """
    folder = existing_run_dir(settings, run_id)
    if not (folder / MODEL_DIR).is_dir():
        state = read_job(folder)["state"]
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"run_id {run_id!r} has no saved model yet (it is {state}); "
            f"a run saves its model when its training completes",
        )
    return folder


def _lost_writer(record: JobRecord, folder: Path, settings: Settings, moment: float) -> str | None:
    """Why the active run of ``record`` has no writer any more, or None when it may have one."""
    writer = writer_state(folder)
    if writer == "live":
        return None
    if writer == "gone":
        return (
            f"process {record['pid']} ended without recording an end: nobody holds the "
            f"run's lock {str(folder / LOCK_FILE)!r}"
        )
    silent_s = moment - record["heartbeat_at"]
    if silent_s <= settings["heartbeat_timeout_s"]:
        return None
    last = datetime.fromtimestamp(record["heartbeat_at"], UTC).isoformat(timespec="seconds")
    return (
        f"the heartbeat of process {record['pid']} stopped at {last} "
        f"({silent_s:.0f} s ago, over heartbeat_timeout_s="
        f"{settings['heartbeat_timeout_s']:g}); the process died"
    )


def refresh_job(
    folder: Path, settings: Settings, *, now: float | None = None, lock_held: bool = False
) -> JobRecord:
    """The run's job record, first marked ``failed`` if it is active but its writer is gone.

    ``lock_held``: the caller holds the run's writer lock, so an active record has no
    other writer.
    """
    record = read_job(folder)
    if record["state"] not in ACTIVE_STATES:
        return record
    moment = time.time() if now is None else now
    reason = (
        f"process {record['pid']} ended without recording an end"
        if lock_held
        else _lost_writer(record, folder, settings, moment)
    )
    if reason is None:
        return record
    record = {**record, "state": "failed", "error_code": "INTERNAL_ERROR", "error_message": reason}
    write_job(folder, record)
    return record


def run_summary(folder: Path, settings: Settings, *, now: float | None = None) -> RunSummary:
    """The listing line of the run in ``folder``.

    Raises:
        ModelTrainerError: when its ``job.json`` or ``manifest.json`` cannot be read.
    """
    record = refresh_job(folder, settings, now=now)
    if is_scoring(folder):
        scoring = read_scoring(folder)
        return {
            "run_id": record["run_id"],
            "kind": "scoring",
            "state": record["state"],
            "model_family": ",".join(scoring["models"]),
            "model_size": "",
            "epochs_done": 0,
            "total_epochs": 0,
            "last_val_loss": None,
            "started_at": datetime.fromtimestamp(scoring["created_at"], UTC).isoformat(),
            "problem": None,
        }
    manifest = read_manifest(str(folder))
    return {
        "run_id": record["run_id"],
        "kind": "training",
        "state": record["state"],
        "model_family": manifest["config"]["model_family"],
        "model_size": manifest["config"]["model_size"],
        "epochs_done": record["epochs_done"],
        "total_epochs": manifest["config"]["num_epochs"],
        "last_val_loss": record["last_val_loss"],
        "started_at": manifest["started_at"],
        "problem": None,
    }


def _listed(folder: Path, settings: Settings, now: float | None) -> RunSummary:
    """The listing line of one run; a run that cannot be read is listed as such."""
    try:
        return run_summary(folder, settings, now=now)
    except ModelTrainerError as exc:
        return {
            "run_id": folder.name,
            "kind": "scoring" if is_scoring(folder) else "training",
            "state": "unreadable",
            "model_family": "?",
            "model_size": "?",
            "epochs_done": 0,
            "total_epochs": 0,
            "last_val_loss": None,
            "started_at": "",
            "problem": f"{exc.code}: {exc.message}",
        }


def list_runs(settings: Settings, *, now: float | None = None) -> list[RunSummary]:
    """Every run in ``settings["runs_dir"]``, oldest first; folders without a job are not runs.

    One run that cannot be read never hides the others: it is listed as ``unreadable``,
    first, with its reason.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when the runs folder is missing or not a folder.
    """
    root = Path(settings["runs_dir"])
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"runs folder {str(root)!r} {what}: no run was started there; name the folder of "
            f"your runs (runs_dir= or --runs-dir, default $MODEL_TRAINER_RUNS_DIR or ./runs)",
        )
    summaries = [
        _listed(folder, settings, now) for folder in root.iterdir() if (folder / JOB_FILE).is_file()
    ]
    return sorted(summaries, key=lambda summary: (summary["started_at"], summary["run_id"]))

"""The run manifest: what ran, with which libraries, code, device and seed (``manifest.json``).

It also holds fingerprints of the data a run trains on: the corpus text and the tokenizer
file (``sha256:<hex>``), so a resume on changed data is refused. Manifests written before
these fields have neither: their data is unknown, and they resume as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import NotRequired, TypedDict

from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing

MANIFEST_FILE = "manifest.json"
LIBRARIES = ("torch", "transformers", "tokenizers", "model-trainer")


class Manifest(TypedDict):
    """One run's identity card; times are ISO 8601 in UTC."""

    run_id: str
    config: ModelTrainConfig
    library_versions: dict[str, str]
    git_commit: str | None
    device: str
    precision: str
    seed: int
    started_at: str
    ended_at: str | None
    world_size: int
    global_batch_size: int
    corpus_fingerprint: NotRequired[str]
    tokenizer_fingerprint: NotRequired[str]


def file_fingerprint(path: Path) -> str:
    """``sha256:<hex>`` of the bytes of the file at ``path`` (``missing`` when there is none)."""
    if not path.is_file():
        return "missing"
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


def check_same_data(manifest: Manifest, *, corpus: str, tokenizer: str, where: str) -> None:
    """Refuse data that differs from what the manifest recorded (a field it lacks is unknown).

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` naming what changed (the corpus path or
            the tokenizer file) with the old and the new fingerprint.
    """
    config = manifest["config"]
    found = {
        "corpus_fingerprint": (f"the corpus {config['corpus_path']!r}", corpus),
        "tokenizer_fingerprint": ("its tokenizer.json", tokenizer),
    }
    for field, (what, new) in found.items():
        old = manifest.get(field)
        if old is not None and old != new:
            raise ModelTrainerError(
                "MODEL_INCOMPATIBLE",
                f"{where}: {what} changed since the run started ({field} was {old}, now "
                f"{new}); a resume must train on the same data: restore it or start a new run",
            )


def now_iso() -> str:
    """The current time, ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat()


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a run depends on (``model_trainer`` included)."""
    versions = {"python": platform.python_version()}
    versions.update({name.replace("-", "_"): version(name) for name in LIBRARIES})
    return versions


def git_commit(folder: str, *, git: str | None) -> str | None:
    """The commit checked out in ``folder`` by the ``git`` executable, or None.

    None when there is no ``git`` or ``folder`` is not inside a git checkout.
    """
    if git is None:
        return None
    done = subprocess.run(
        [git, "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return None
    return done.stdout.strip()


def build_manifest(
    *,
    run_id: str,
    config: ModelTrainConfig,
    device: str,
    precision: str,
    world_size: int = 1,
    started_at: str | None = None,
) -> Manifest:
    """The manifest of a run starting now, in the current folder's code checkout."""
    return {
        "run_id": run_id,
        "config": {**config},
        "library_versions": library_versions(),
        "git_commit": git_commit(os.getcwd(), git=shutil.which("git")),
        "device": device,
        "precision": precision,
        "seed": config["seed"],
        "started_at": now_iso() if started_at is None else started_at,
        "ended_at": None,
        "world_size": world_size,
        "global_batch_size": config["batch_size"] * config["grad_accum_steps"] * world_size,
    }


def ended(manifest: Manifest, *, ended_at: str | None = None) -> Manifest:
    """A copy of ``manifest`` marked as ended (now, or at ``ended_at``)."""
    return {**manifest, "ended_at": now_iso() if ended_at is None else ended_at}


def write_manifest(run_dir: str, manifest: Manifest) -> str:
    """Write ``run_dir/manifest.json`` atomically (temp file, then replace); return its path."""
    path = os.path.join(run_dir, MANIFEST_FILE)
    tmp = path + ".tmp"
    with writing(path):
        os.makedirs(run_dir, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(manifest, file, indent=2)
        os.replace(tmp, path)
    return path


def read_manifest(run_dir: str) -> Manifest:
    """Read ``run_dir/manifest.json`` strictly: every field there, of its type.

    Its config's values are checked once, where a run is resumed (``resume_train``).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when there is no manifest;
            ``MODEL_LOAD_FAILED`` naming the path and field when it is malformed.
    """
    path = os.path.join(run_dir, MANIFEST_FILE)
    if not os.path.isfile(path):
        raise ModelTrainerError("MODEL_NOT_FOUND", f"no manifest at {path}")
    return read_typed(path, Manifest, where=f"manifest {path}", code="MODEL_LOAD_FAILED")

"""Run manifests: built from the run, written atomically, read back strictly."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.manifest import (
    Manifest,
    build_manifest,
    ended,
    git_commit,
    library_versions,
    read_manifest,
    write_manifest,
)

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def manifest() -> Manifest:
    return build_manifest(
        run_id="run-1",
        config=train_config(batch_size=8, grad_accum_steps=3, seed=11),
        device="cpu",
        precision="fp32",
        world_size=2,
        started_at="2024-05-01T10:00:00+00:00",
    )


def test_build_manifest_fields() -> None:
    built = manifest()
    assert built["run_id"] == "run-1"
    assert built["config"]["batch_size"] == 8
    assert built["seed"] == 11
    assert built["global_batch_size"] == 8 * 3 * 2
    assert built["world_size"] == 2
    assert built["started_at"] == "2024-05-01T10:00:00+00:00"
    assert built["ended_at"] is None
    assert set(built["library_versions"]) == {
        "python",
        "torch",
        "transformers",
        "tokenizers",
        "model_trainer",
    }


def test_started_now_and_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    built = build_manifest(run_id="r", config=train_config(), device="cpu", precision="bf16")
    assert built["git_commit"] is None
    started = datetime.fromisoformat(built["started_at"])
    assert started.utcoffset() is not None
    done = ended(built)
    assert done["ended_at"] is not None
    assert datetime.fromisoformat(done["ended_at"]) >= started
    assert ended(built, ended_at="2030-01-01T00:00:00+00:00")["ended_at"] == (
        "2030-01-01T00:00:00+00:00"
    )
    assert built["ended_at"] is None


def test_library_versions_are_strings() -> None:
    versions = library_versions()
    assert re.fullmatch(r"\d+\.\d+\.\d+", versions["python"])
    assert versions["torch"].startswith("2.")


def test_git_commit_without_git(tmp_path: Path) -> None:
    assert git_commit(str(tmp_path), git=None) is None


@needs_git
def test_git_commit_outside_a_checkout(tmp_path: Path) -> None:
    assert git_commit(str(tmp_path), git=GIT) is None


def git(folder: Path, *args: str) -> str:
    assert GIT is not None
    done = subprocess.run([GIT, *args], cwd=folder, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@needs_git
def test_git_commit_of_a_checkout(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    git(
        tmp_path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "m",
    )
    head = git(tmp_path, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert git_commit(str(tmp_path), git=GIT) == head


def test_write_read_round_trip(tmp_path: Path) -> None:
    built = manifest()
    path = write_manifest(str(tmp_path / "run"), built)
    assert path == str(tmp_path / "run" / "manifest.json")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["manifest.json"]
    assert read_manifest(str(tmp_path / "run")) == built
    write_manifest(str(tmp_path / "run"), ended(built, ended_at="2024-05-01T11:00:00+00:00"))
    assert read_manifest(str(tmp_path / "run"))["ended_at"] == "2024-05-01T11:00:00+00:00"


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        read_manifest(str(tmp_path))
    assert caught.value.code == "MODEL_NOT_FOUND"
    assert str(tmp_path / "manifest.json") in caught.value.message


Edit = Callable[[dict[str, object]], object]


def set_key(key: str, value: object) -> Edit:
    def edit(data: dict[str, object]) -> object:
        data[key] = value
        return data

    return edit


def drop_key(key: str) -> Edit:
    def edit(data: dict[str, object]) -> object:
        del data[key]
        return data

    return edit


def drop_config_key(key: str) -> Edit:
    def edit(data: dict[str, object]) -> object:
        config = data["config"]
        assert isinstance(config, dict)
        del config[key]
        return data

    return edit


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda data: [data], "must hold a JSON object, got list"),
        (drop_key("device"), "lacks device"),
        (set_key("config", "cfg"), "config must be an object"),
        (drop_config_key("seed"), "config lacks seed"),
        (set_key("library_versions", None), "library_versions must be an object"),
        (set_key("library_versions", {"torch": 2}), "torch must be a string"),
        (set_key("run_id", 7), "run_id must be a string"),
        (set_key("git_commit", 12), "git_commit must be a string"),
        (set_key("world_size", True), "world_size must be an integer"),
        (set_key("seed", "1"), "seed must be an integer"),
    ],
)
def test_malformed_manifest(tmp_path: Path, edit: Edit, detail: str) -> None:
    write_manifest(str(tmp_path), manifest())
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text(encoding="utf-8")))))
    with pytest.raises(ModelTrainerError) as caught:
        read_manifest(str(tmp_path))
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert detail in caught.value.message
    assert str(path) in caught.value.message


def test_manifest_not_json(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelTrainerError) as caught:
        read_manifest(str(tmp_path))
    assert caught.value.code == "MODEL_LOAD_FAILED"


def test_manifest_is_read_as_written_its_values_checked_where_a_run_resumes(
    tmp_path: Path,
) -> None:
    write_manifest(str(tmp_path), manifest())
    path = tmp_path / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["config"]["batch_size"] = 0
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_manifest(str(tmp_path))["config"]["batch_size"] == 0

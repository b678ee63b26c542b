from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.job_store import JobRecord, new_job_record, read_job, write_job
from model_trainer.core.jobs.run_store import (
    existing_run_dir,
    list_runs,
    new_run_id,
    run_dir,
    validate_run_id,
)
from model_trainer.core.training.manifest import build_manifest, write_manifest


@pytest.mark.parametrize(
    "run_id", ["a", "run-1", "A.b_c-9", "9" * 100, "char_lstm-tiny-20250101-120000-ab12"]
)
def test_good_run_ids_pass(run_id: str) -> None:
    assert validate_run_id(run_id) == run_id


@pytest.mark.parametrize(
    "run_id", ["", "-a", ".a", "_a", "a/b", "a..b", "..", "a b", "x" * 101, "é", "a\n"]
)
def test_bad_run_ids_are_invalid_config(run_id: str) -> None:
    with pytest.raises(ModelTrainerError) as raised:
        validate_run_id(run_id)
    assert raised.value.code == "INVALID_CONFIG"
    assert "run_id must be" in raised.value.message
    assert repr(run_id) in raised.value.message


def test_new_run_id_has_family_size_time_and_token() -> None:
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    first = new_run_id("char_lstm", "tiny", now=now)
    assert first.startswith("char_lstm-tiny-20250304-050607-")
    assert len(first.rsplit("-", 1)[1]) == 4
    assert int(first.rsplit("-", 1)[1], 16) >= 0
    assert new_run_id("gpt2", "small").startswith("gpt2-small-")


def _make_run(
    settings: Settings, run_id: str, *, started_at: str, record: JobRecord | None = None
) -> Path:
    folder = run_dir(settings, run_id)
    cfg = train_config(model_family="char_lstm", model_size="tiny", num_epochs=4)
    write_manifest(
        str(folder),
        build_manifest(
            run_id=run_id, config=cfg, device="cpu", precision="fp32", started_at=started_at
        ),
    )
    write_job(
        folder, record or new_job_record(run_id=run_id, job_id=run_id, kind="train", now=1000.0)
    )
    return folder


def test_list_runs_of_a_missing_folder_is_empty(settings: Settings) -> None:
    assert list_runs(settings) == []


def test_list_runs_sorts_and_marks_dead_runs_failed(settings: Settings) -> None:
    done: JobRecord = {
        **new_job_record(run_id="b", job_id="b", kind="train", now=10.0),
        "state": "completed",
        "epochs_done": 4,
        "last_val_loss": 1.25,
    }
    _make_run(settings, "b", started_at="2025-01-02T00:00:00+00:00", record=done)
    dead = _make_run(settings, "a", started_at="2025-01-03T00:00:00+00:00")
    alive = _make_run(settings, "c", started_at="2025-01-01T00:00:00+00:00")
    write_job(alive, {**read_job(alive), "state": "running", "heartbeat_at": 1070.0})
    (Path(settings["runs_dir"]) / "not-a-run").mkdir()
    runs = list_runs(settings, now=1100.0)
    assert [run["run_id"] for run in runs] == ["c", "b", "a"]
    assert runs[1] == {
        "run_id": "b",
        "kind": "training",
        "state": "completed",
        "model_family": "char_lstm",
        "model_size": "tiny",
        "epochs_done": 4,
        "total_epochs": 4,
        "last_val_loss": 1.25,
        "started_at": "2025-01-02T00:00:00+00:00",
        "problem": None,
    }
    assert runs[0]["state"] == "running"
    assert runs[2]["state"] == "failed"
    record = read_job(dead)
    assert record["state"] == "failed"
    assert record["error_code"] == "INTERNAL_ERROR"
    assert record["error_message"] == (
        f"the heartbeat of process {os.getpid()} stopped at 1970-01-01T00:16:40+00:00 "
        "(100 s ago, over heartbeat_timeout_s=60); the process died"
    )
    assert read_job(alive)["state"] == "running"


def test_existing_run_dir_needs_a_job_file(settings: Settings) -> None:
    folder = _make_run(settings, "r1", started_at="2025-01-01T00:00:00+00:00")
    assert existing_run_dir(settings, "r1") == folder
    with pytest.raises(ModelTrainerError) as raised:
        existing_run_dir(settings, "r2")
    assert raised.value.code == "MODEL_NOT_FOUND"
    assert "run_id 'r2'" in raised.value.message
    with pytest.raises(ModelTrainerError, match="INVALID_CONFIG"):
        existing_run_dir(settings, "../r1")


def test_a_corrupt_job_or_manifest_never_hides_the_other_runs(settings: Settings) -> None:
    _make_run(settings, "good", started_at="2025-01-02T00:00:00+00:00")
    torn = _make_run(settings, "torn-job", started_at="2025-01-01T00:00:00+00:00")
    (torn / "job.json").write_text('{"run_id": "torn', encoding="utf-8")
    lost = _make_run(settings, "no-manifest", started_at="2025-01-03T00:00:00+00:00")
    (lost / "manifest.json").write_text("[]", encoding="utf-8")
    runs = list_runs(settings, now=1010.0)
    assert [(run["run_id"], run["state"]) for run in runs] == [
        ("no-manifest", "unreadable"),
        ("torn-job", "unreadable"),
        ("good", "queued"),
    ]
    problems = [run["problem"] for run in runs]
    assert problems[2] is None
    assert all(p is not None and p.startswith("MODEL_LOAD_FAILED: ") for p in problems[:2])
    assert "job.json" in str(problems[1])
    assert "manifest.json" in str(problems[0])
    assert runs[0]["model_family"] == "?"


def test_links_out_of_the_runs_folder_are_refused(settings: Settings, tmp_path: Path) -> None:
    folder = _make_run(settings, "r1", started_at="2025-01-01T00:00:00+00:00")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "events.jsonl").write_text("", encoding="utf-8")
    (folder / "events.jsonl").symlink_to(outside / "events.jsonl")
    with pytest.raises(ModelTrainerError) as raised:
        existing_run_dir(settings, "r1")
    assert raised.value.code == "INVALID_CONFIG"
    assert f"is a link to {str(outside / 'events.jsonl')!r}, outside the runs folder" in (
        raised.value.message
    )
    (folder / "events.jsonl").unlink()
    (folder / "events.jsonl").symlink_to(folder / "job.json")
    assert existing_run_dir(settings, "r1") == folder
    (Path(settings["runs_dir"]) / "r2").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ModelTrainerError, match="'r2'"):
        run_dir(settings, "r2")


def test_a_scoring_is_listed_by_its_kind_also_when_unreadable(settings: Settings) -> None:
    folder = Path(settings["runs_dir"]) / "scores"
    folder.mkdir(parents=True)
    write_job(folder, new_job_record(run_id="scores", job_id="s", kind="score_corpus", now=1.0))
    (folder / "scoring.json").write_text("{", encoding="utf-8")
    (run,) = list_runs(settings, now=1.0)
    assert (run["run_id"], run["kind"], run["state"]) == ("scores", "scoring", "unreadable")
    assert run["problem"] is not None
    assert run["problem"].startswith("MODEL_LOAD_FAILED")

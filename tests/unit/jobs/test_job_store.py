from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.job_store import (
    JobRecord,
    JobRecorder,
    job_path,
    new_job_record,
    read_job,
    write_job,
    write_json_atomic,
)


def _record() -> JobRecord:
    return new_job_record(run_id="run-1", job_id="run-1", kind="train", now=100.0)


def test_new_record_is_queued_in_this_process() -> None:
    assert _record() == {
        "run_id": "run-1",
        "job_id": "run-1",
        "kind": "train",
        "state": "queued",
        "pid": os.getpid(),
        "started_at": 100.0,
        "heartbeat_at": 100.0,
        "epochs_done": 0,
        "last_val_loss": None,
        "error_code": None,
        "error_message": None,
    }


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    record: JobRecord = {
        **_record(),
        "state": "failed",
        "epochs_done": 2,
        "last_val_loss": 1.5,
        "error_code": "TRAINING_NAN_LOSS",
        "error_message": "loss is nan",
    }
    write_job(tmp_path, record)
    assert read_job(tmp_path) == record
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]


def test_integer_times_read_as_floats(tmp_path: Path) -> None:
    data = {**_record(), "started_at": 5, "heartbeat_at": 6}
    job_path(tmp_path).write_text(json.dumps(data), encoding="utf-8")
    record = read_job(tmp_path)
    assert record["started_at"] == 5.0
    assert isinstance(record["started_at"], float)


def test_missing_job_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelTrainerError) as raised:
        read_job(tmp_path)
    assert raised.value.code == "MODEL_NOT_FOUND"
    assert str(tmp_path / "job.json") in raised.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "job.json: not JSON"),
        ("[1, 2]", "must hold a JSON object, got list"),
        (json.dumps({**_record(), "run_id": 3}), "job.json: run_id must be a string, got 3"),
        (json.dumps({**_record(), "pid": True}), "pid must be an integer, got True"),
        (json.dumps({**_record(), "pid": 1.5}), "pid must be an integer, got 1.5"),
        (json.dumps({**_record(), "heartbeat_at": "x"}), "heartbeat_at must be a finite number"),
        (json.dumps({**_record(), "started_at": False}), "started_at must be a finite number"),
        (json.dumps({**_record(), "last_val_loss": float("nan")}), "last_val_loss must be a fin"),
        (json.dumps({**_record(), "state": "paused"}), "state must be one of queued, running"),
        (json.dumps({**_record(), "kind": None}), "kind must be one of train"),
        (json.dumps({**_record(), "error_code": "OOPS"}), "error_code must be one of"),
        (json.dumps({**_record(), "error_message": 1}), "error_message must be a string"),
    ],
)
def test_malformed_job_file_names_field_and_value(tmp_path: Path, text: str, fragment: str) -> None:
    job_path(tmp_path).write_text(text, encoding="utf-8")
    with pytest.raises(ModelTrainerError) as raised:
        read_job(tmp_path)
    assert raised.value.code == "MODEL_LOAD_FAILED"
    assert fragment in raised.value.message


def test_non_utf8_job_file_fails_to_load(tmp_path: Path) -> None:
    job_path(tmp_path).write_bytes(b"\xff\xfe")
    with pytest.raises(ModelTrainerError, match="MODEL_LOAD_FAILED"):
        read_job(tmp_path)


def test_atomic_write_into_a_missing_folder_fails_with_the_path(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "job.json"
    with pytest.raises(ModelTrainerError) as raised:
        write_json_atomic(target, "{}")
    assert raised.value.code == "ARTIFACT_UPLOAD_FAILED"
    assert str(target) in raised.value.message


def test_recorder_writes_states_epochs_and_throttled_heartbeats(tmp_path: Path) -> None:
    recorder = JobRecorder(tmp_path, _record())
    recorder.write()
    first = read_job(tmp_path)["heartbeat_at"]
    assert first > 100.0
    recorder.heartbeat(first + 0.5)
    assert read_job(tmp_path)["heartbeat_at"] == first
    recorder.heartbeat(first + 1.0)
    assert read_job(tmp_path)["heartbeat_at"] == first + 1.0
    recorder.set_state("running", None)
    assert read_job(tmp_path)["state"] == "running"
    recorder.epoch_done(1, 2.25)
    assert read_job(tmp_path) == {**recorder.record, "epochs_done": 1, "last_val_loss": 2.25}
    recorder.set_state("cancelled", ModelTrainerError("TRAINING_CANCELLED", "stopped"))
    on_disk = read_job(tmp_path)
    assert (on_disk["state"], on_disk["error_code"], on_disk["error_message"]) == (
        "cancelled",
        "TRAINING_CANCELLED",
        "stopped",
    )
    recorder.set_state("running", None)
    assert read_job(tmp_path)["error_code"] is None

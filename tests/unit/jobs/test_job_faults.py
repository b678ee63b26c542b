"""The job boundary and the machine: a fault is a coded error, recorded where it can be."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import make_progress_event
from model_trainer.core.events.sinks import ListSink
from model_trainer.core.events.tensorboard_sink import TensorBoardSink
from model_trainer.core.events.trainer_metrics_events import make_epoch_event
from model_trainer.core.faults import writing
from model_trainer.core.jobs.job_store import write_json_atomic
from model_trainer.core.jobs.runner import JobControl, JobHandle, JobState

Mount = Callable[[str, bool], Path]


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to its last byte."""
    done = subprocess.run(
        ["dd", "if=/dev/zero", f"of={folder / 'filler'}", "bs=4k"], capture_output=True, check=False
    )
    assert b"No space left" in done.stderr


def recorder(disk: Path) -> Callable[[JobState, ModelTrainerError | None], None]:
    """Writes each state of a job to ``disk/job.json``, as a run's record is kept."""

    def record(state: JobState, _error: ModelTrainerError | None) -> None:
        write_json_atomic(disk / "job.json", json.dumps({"state": state}))

    return record


def test_an_oserror_of_the_work_names_the_path_and_the_cause(tmp_path: Path) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("a file", encoding="utf-8")

    def work(_control: JobControl) -> int:
        (blocker / "x.json").write_text("{}", encoding="utf-8")
        return 1

    handle = JobHandle(kind="score", job_id="j", run_id="", run_dir="", work=work).start()
    handle.wait()
    assert handle.state == "failed"
    error = handle.error
    assert error is not None
    assert (error.code, error.message) == (
        "ARTIFACT_UPLOAD_FAILED",
        f"cannot write {blocker / 'x.json'}: not a folder (a file is where a folder should "
        "be); move that file away or choose another folder",
    )


def test_a_failure_the_full_disk_cannot_record_says_so(tmpfs: Mount) -> None:
    disk = tmpfs("64k", False)

    def work(_control: JobControl) -> int:
        fill(disk)
        with writing(disk / "model.bin"):
            (disk / "model.bin").write_bytes(b"weights")
        return 1

    handle = JobHandle(
        kind="score", job_id="j", run_id="", run_dir="", work=work, on_state=recorder(disk)
    ).start()
    handle.wait()
    assert handle.state == "failed"
    full = "no space left on its device; free space there or point the runs folder elsewhere"
    with pytest.raises(ModelTrainerError) as caught:
        handle.result()
    assert caught.value.message == (
        f"cannot write {disk / 'model.bin'}: {full} (runs_dir, --runs-dir) (not recorded: "
        f"cannot write {disk / 'job.json'}: {full} (runs_dir, --runs-dir))"
    )


def test_a_completion_the_full_disk_cannot_record_fails_the_job(tmpfs: Mount) -> None:
    disk = tmpfs("64k", False)

    def work(_control: JobControl) -> int:
        fill(disk)
        return 1

    handle = JobHandle(
        kind="score", job_id="j", run_id="", run_dir="", work=work, on_state=recorder(disk)
    ).start()
    handle.wait()
    assert handle.state == "failed"
    assert handle.result() == 1
    error = handle.error
    assert error is not None
    assert error.message.startswith(f"cannot write {disk / 'job.json'}: no space left")
    assert json.loads((disk / "job.json").read_text(encoding="utf-8")) == {"state": "running"}
    assert "(not recorded: " in error.message


def test_a_sink_that_fails_is_switched_off_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "j").write_text("a file where the run's folder should be", encoding="utf-8")
    board = TensorBoardSink(str(tmp_path))
    after = ListSink()
    epoch = make_epoch_event(
        job_id="j", user_id=0, epoch=1, total_epochs=2, global_step=3, elapsed_s=1.0,
        train_loss=2.0, train_perplexity=7.4, val_loss=None, val_perplexity=None,
        tokens_per_second=5.0, learning_rate=1e-3, loss_unit="token",
    )  # fmt: skip

    def work(control: JobControl) -> int:
        control.emit(make_progress_event(job_id="j", user_id=0, progress=40, message="40%"))
        control.emit(epoch)
        control.emit(epoch)
        return 1

    handle = JobHandle(
        kind="train", job_id="j", run_id="j", run_dir="", work=work, sinks=[board, after]
    ).start()
    assert handle.result() == 1
    assert handle.state == "completed"
    warning = handle.events[3]
    blocked = tmp_path / "j" / "tensorboard"
    expected: Event = make_progress_event(
        job_id="j",
        user_id=0,
        progress=40,
        message=f"warning: TensorBoardSink switched off, the run goes on: cannot write {blocked}"
        ": not a folder (a file is where a folder should be); move that file away or choose "
        "another folder",
        payload={
            "warning": "sink_off",
            "sink": "TensorBoardSink",
            "code": "ARTIFACT_UPLOAD_FAILED",
        },
        ts=warning.get("ts", 0.0),
    )
    assert warning == expected
    assert [event["type"] for event in after.events] == [
        "trainer.job.started.v1",
        "trainer.job.progress.v1",
        "trainer.job.progress.v1",
        "trainer.metrics.epoch.v1",
        "trainer.metrics.epoch.v1",
        "trainer.job.completed.v1",
    ]

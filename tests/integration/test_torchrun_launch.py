"""``launch_distributed``: a killed rank fails the run, it resumes; Stop; rank 0 lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from model_trainer import api
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig, TrainOutcome
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.distributed.launcher import (
    Torchrun,
    launch_distributed,
    resume_distributed,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import is_failed
from model_trainer.core.events.sinks import ListSink
from model_trainer.core.events.trainer_metrics_events import is_epoch
from model_trainer.core.jobs.job_store import read_job
from model_trainer.core.jobs.runner import JobHandle
from model_trainer.core.jobs.train_job import start_train
from model_trainer.core.training.checkpoint import latest_name

ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "MODEL_TRAINER_NUM_THREADS": "1",
    "MODEL_TRAINER_DIST_TIMEOUT_S": "60",
}


def tiny(corpus: Path, *, batch_size: int = 8) -> ModelTrainConfig:
    return train_config(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=str(corpus),
        max_seq_len=32,
        batch_size=batch_size,
        num_epochs=3,
        max_steps_per_epoch=20,
        warmup_steps=2,
        learning_rate=1e-2,
        seed=5,
        device="cpu",
        precision="fp32",
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[:30_000], encoding="utf-8")
    return path


def torchrun_of(job: JobHandle[TrainOutcome]) -> Torchrun:
    """The work of a launched run's job."""
    assert isinstance(job.work, Torchrun)
    return job.work


def wait_for_epoch(job: JobHandle[TrainOutcome]) -> None:
    deadline = time.monotonic() + 120
    log = torchrun_of(job).log_path
    while not any(is_epoch(event) for event in job.events):
        assert time.monotonic() < deadline, "no epoch ended in time"
        assert not job.done(), f"torchrun ended early: {log.read_text()[-3000:]}"
        time.sleep(0.02)


def rank_pid(job: JobHandle[TrainOutcome], rank: int) -> int:
    """The process id of torchrun's child whose environment says RANK=<rank>."""
    tasks = Path(f"/proc/{torchrun_of(job).pid}/task").iterdir()
    children = [int(pid) for task in tasks for pid in (task / "children").read_text().split()]
    for child in children:
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return child
    raise AssertionError(f"no rank {rank} among torchrun's children {children}")


def epochs_and_failures(folder: Path) -> list[Event]:
    return [e for e in read_events(folder / "events.jsonl") if is_epoch(e) or is_failed(e)]


@pytest.mark.slow
def test_a_killed_rank_fails_the_run_which_resumes_from_its_checkpoint(
    tmp_path: Path, corpus: Path, settings: Settings
) -> None:
    job = launch_distributed(tiny(corpus), 2, settings, run_id="killed", env=ENV)
    wait_for_epoch(job)
    killed_at = time.monotonic()
    os.kill(rank_pid(job, 1), signal.SIGKILL)
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert time.monotonic() - killed_at < 30
    assert caught.value.code == "INTERNAL_ERROR"
    assert "rank 0 of 2: the process group failed during" in caught.value.message
    assert job.state == "failed"
    assert torchrun_of(job).returncode != 0
    folder = Path(settings["runs_dir"]) / "killed"
    record = read_job(folder)
    assert (record["state"], record["error_message"]) == ("failed", caught.value.message)
    before = epochs_and_failures(folder)
    assert is_failed(before[-1])
    assert before[-1]["job_id"] == "killed"
    finished = [e["epoch"] for e in before if is_epoch(e)]
    assert latest_name(str(folder / "checkpoint")) is not None

    seen = ListSink()
    resumed = resume_distributed("killed", 2, settings, sinks=[seen], env=ENV)
    outcome = resumed.result()
    assert (outcome["epochs_completed"], outcome["steps"], outcome["cancelled"]) == (3, 60, False)
    assert resumed.state == "completed"
    after = [e["epoch"] for e in seen.events if is_epoch(e)]
    assert finished + after == [1, 2, 3]
    assert [path.name for path in Path(settings["runs_dir"]).iterdir() if path.name[0] != "."] == [
        "killed"
    ]

    alone: Settings = {**settings, "runs_dir": str(tmp_path / "alone")}
    start_train(tiny(corpus, batch_size=16), alone, run_id="alone").result()
    expected = [
        e["train_loss"]
        for e in read_events(tmp_path / "alone" / "alone" / "events.jsonl")
        if is_epoch(e)
    ]
    got = [e["train_loss"] for e in epochs_and_failures(folder) if is_epoch(e)]
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_stop_ends_every_rank_at_one_step_with_a_checkpoint(
    corpus: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    job = api.launch_distributed(
        tiny(corpus), nproc_per_node=2, run_id="stopped", runs_dir=settings["runs_dir"]
    )
    wait_for_epoch(job)
    job.cancel()
    outcome = job.result()
    assert outcome["cancelled"]
    assert job.cancel_requested()
    assert job.state == "cancelled"
    assert 20 <= outcome["steps"] < 60
    folder = Path(settings["runs_dir"]) / "stopped"
    assert latest_name(str(folder / "checkpoint")) == f"ckpt-{outcome['steps']}"
    assert read_job(folder)["error_code"] == "TRAINING_CANCELLED"
    # Outside a notebook the run's view is the console: its lines, then again on show().
    printed = capsys.readouterr().err
    assert "char_lstm/tiny: 3 epochs x 20 steps, loss in nats/token\n" in printed
    assert "epoch 1/3: train " in printed
    job.show()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "char_lstm/tiny: 3 epochs x 20 steps, loss in nats/token"
    assert lines[1].startswith("epoch 1/3: train ")
    assert lines[-1].startswith("cancelled: TRAINING_CANCELLED: ")
    assert all(line in printed for line in lines)


@pytest.mark.slow
def test_rank_zero_killed_the_launcher_records_the_failure(
    corpus: Path, settings: Settings
) -> None:
    job = launch_distributed(tiny(corpus), 2, settings, run_id="headless", env=ENV)
    wait_for_epoch(job)
    os.kill(rank_pid(job, 0), signal.SIGKILL)
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert "rank 0 ended without recording an end" in caught.value.message
    folder = Path(settings["runs_dir"]) / "headless"
    assert read_job(folder)["state"] == "failed"
    last = read_events(folder / "events.jsonl")[-1]
    assert is_failed(last)
    assert last["message"] == caught.value.message

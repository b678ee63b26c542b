"""One rank of a torchrun run in this process: a group of one rank, stopped by SIGTERM."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Protocol

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, TrainOutcome
from model_trainer.core.distributed.launcher import resume_distributed
from model_trainer.core.distributed.rank import (
    TrainJob,
    distributed_resume,
    distributed_train,
    wait_quietly,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import is_failed
from model_trainer.core.events.sinks import CallbackSink, ListSink
from model_trainer.core.events.trainer_metrics_events import is_epoch
from model_trainer.core.jobs.job_store import read_job
from model_trainer.core.jobs.runner import JobControl, JobHandle
from model_trainer.core.training.distributed import current_collective
from model_trainer.core.training.manifest import read_manifest


class MakeConfig(Protocol):
    """Builds a tiny config with integer fields replaced (the ``make_config`` fixture)."""

    def __call__(self, **fields: int) -> ModelTrainConfig: ...


def outcome(*, cancelled: bool) -> TrainOutcome:
    return {
        "loss": 1.0,
        "perplexity": math.e,
        "val_loss": None,
        "val_perplexity": None,
        "loss_unit": "char",
        "steps": 3,
        "epochs_completed": 1,
        "tokens_per_second": 10.0,
        "out_dir": "",
        "cancelled": cancelled,
        "stop_reason": "cancelled" if cancelled else "completed",
    }


def job_of(work_outcome: TrainOutcome | ModelTrainerError) -> TrainJob:
    def work(control: JobControl) -> TrainOutcome:
        if isinstance(work_outcome, ModelTrainerError):
            raise work_outcome
        return work_outcome

    handle: TrainJob = JobHandle(
        kind="train",
        job_id="j",
        run_id="r",
        run_dir="",
        work=work,
        cancel_message=lambda end: "stopped" if end["cancelled"] else None,
    )
    return handle.start()


def test_a_rank_that_is_not_rank_0_waits_quietly() -> None:
    assert wait_quietly(job_of(outcome(cancelled=False))) == 0
    assert wait_quietly(job_of(outcome(cancelled=True))) == 130
    with pytest.raises(ModelTrainerError) as caught:
        wait_quietly(job_of(ModelTrainerError("TRAINING_NAN_LOSS", "nan at step 4")))
    assert caught.value.code == "TRAINING_NAN_LOSS"


class Stopper:
    """A sink that sends this process SIGTERM when the first epoch ends."""

    def __init__(self) -> None:
        self.sent = False

    def __call__(self, event: Event) -> None:
        if is_epoch(event) and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


def test_one_rank_group_trains_stops_on_sigterm_and_resumes(
    tmp_path: Path, settings: Settings, make_config: MakeConfig
) -> None:
    cfg = make_config(num_epochs=3)
    env = {"WORLD_SIZE": "1", "MODEL_TRAINER_DIST_TIMEOUT_S": "30"}
    stopper, seen = Stopper(), ListSink()
    handles: list[TrainJob] = []

    def report(handle: TrainJob) -> int:
        handles.append(handle)
        return wait_quietly(handle)

    status = distributed_train(
        cfg,
        settings,
        report=report,
        run_id="one",
        sinks=[CallbackSink(stopper), seen],
        env=env,
        init_method=f"file://{tmp_path / 'store-1'}",
    )
    assert status == 130
    assert current_collective().active is False
    folder = Path(settings["runs_dir"]) / "one"
    assert read_job(folder)["state"] == "cancelled"
    assert (handles[0].run_id, handles[0].state) == ("one", "cancelled")
    assert any(is_failed(event) for event in seen.events)
    assert read_manifest(str(folder))["world_size"] == 1
    with pytest.raises(ModelTrainerError) as caught:
        resume_distributed("one", 2, settings)
    assert caught.value.code == "MODEL_INCOMPATIBLE"
    assert "world_size=1" in caught.value.message
    corpus = Path(cfg["corpus_path"])
    text = corpus.read_text(encoding="utf-8")
    written = os.stat(corpus)
    corpus.write_text(text[:-1], encoding="utf-8")
    for resume in (
        lambda: resume_distributed("one", 1, settings),
        lambda: distributed_resume(
            "one", settings, report=wait_quietly, env=env, init_method=f"file://{tmp_path / 's1'}"
        ),
    ):
        with pytest.raises(ModelTrainerError) as changed:
            resume()
        assert changed.value.code == "MODEL_INCOMPATIBLE"
        assert f"run_id 'one': the corpus {str(corpus)!r} changed" in changed.value.message
    assert not (tmp_path / "s1").exists()
    assert not (Path(settings["runs_dir"]) / ".launch" / "one" / "torchrun.log").exists()
    corpus.write_text(text, encoding="utf-8")
    os.utime(corpus, ns=(written.st_atime_ns, written.st_mtime_ns))
    status = distributed_resume(
        "one", settings, report=wait_quietly, env=env, init_method=f"file://{tmp_path / 's2'}"
    )
    assert status == 0
    assert read_job(folder)["state"] == "completed"
    epochs = [event for event in read_events(folder / "events.jsonl") if is_epoch(event)]
    assert [event["epoch"] for event in epochs] == [1, 2, 3]

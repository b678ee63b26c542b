"""The torchrun job in this process (a group of one rank) and the handle of a launched torchrun."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

import pytest

from model_trainer.core.config.settings import Settings, load_settings
from model_trainer.core.contracts.model import ModelTrainConfig, TrainOutcome
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import is_failed
from model_trainer.core.events.sinks import CallbackSink, JsonlFileSink, ListSink
from model_trainer.core.events.trainer_metrics_events import (
    is_epoch,
    make_config_event,
    make_epoch_event,
)
from model_trainer.core.jobs.distributed_job import (
    DistributedJob,
    EventTail,
    TrainJob,
    distributed_resume,
    distributed_train,
    launch_distributed,
    resume_distributed,
    run_outcome,
    settings_env,
    stop_on_signals,
    torchrun_command,
    wait_quietly,
)
from model_trainer.core.jobs.job_store import JobRecord, new_job_record, read_job, write_job
from model_trainer.core.jobs.runner import JobControl, JobHandle, JobState
from model_trainer.core.training.distributed import current_collective
from model_trainer.core.training.manifest import read_manifest

PYTHON = sys.executable


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


def test_sigterm_and_sigint_stop_the_job_then_the_handlers_come_back() -> None:
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    stops: list[str] = []
    with stop_on_signals(lambda: stops.append("stop")):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert stops == ["stop", "stop"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_settings_travel_to_torchrun_in_the_environment() -> None:
    settings: Settings = {
        "runs_dir": "some/runs",
        "max_corpus_chars": 1234,
        "heartbeat_timeout_s": 0.25,
        "progress_interval_s": 1e-7,
        "num_threads": 2,
    }
    env = settings_env(settings)
    assert env["MODEL_TRAINER_PROGRESS_INTERVAL_S"] == "0.0000001"
    assert load_settings(env) == {**settings, "runs_dir": os.path.abspath("some/runs")}


def test_torchrun_command_for_one_node_and_for_several() -> None:
    one = torchrun_command(nproc_per_node=2, nnodes=1, rdzv_endpoint=None, rdzv_id="r", python="py")
    assert one == ["py", "-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone"]
    many = torchrun_command(nproc_per_node=8, nnodes=2, rdzv_endpoint="h:29400", rdzv_id="r")
    assert many == [
        PYTHON,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=8",
        "--nnodes=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=h:29400",
        "--rdzv-id=r",
    ]


@pytest.mark.parametrize(
    ("nproc", "nnodes", "endpoint", "words"),
    [
        (0, 1, None, "nproc_per_node=0"),
        (2, 0, "h:1", "nnodes=0"),
        (2, 2, None, "nnodes=2 needs rdzv_endpoint"),
    ],
)
def test_torchrun_command_refuses(
    nproc: int, nnodes: int, endpoint: str | None, words: str
) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        torchrun_command(nproc_per_node=nproc, nnodes=nnodes, rdzv_endpoint=endpoint, rdzv_id="r")
    assert caught.value.code == "INVALID_CONFIG"
    assert words in caught.value.message


def config_event(job_id: str = "run") -> Event:
    return make_config_event(
        job_id=job_id, user_id=0, model_family="char_lstm", model_size="tiny", total_epochs=2
    )


def epoch_event(epoch: int) -> Event:
    return make_epoch_event(
        job_id="run",
        user_id=0,
        epoch=epoch,
        total_epochs=2,
        global_step=3 * epoch,
        elapsed_s=1.0,
        train_loss=2.0 / epoch,
        train_perplexity=math.exp(2.0 / epoch),
        val_loss=2.5,
        val_perplexity=math.exp(2.5),
        tokens_per_second=100.0,
        learning_rate=1e-3,
        loss_unit="char",
    )


def test_event_tail_reads_whole_lines_as_they_come(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read() == []
    with JsonlFileSink(path) as sink:
        sink.emit(config_event())
    line = path.read_bytes()
    path.write_bytes(line + line[:10])
    assert [event["type"] for event in tail.read()] == ["trainer.metrics.config.v1"]
    assert tail.read() == []
    path.write_bytes(line + line)
    assert tail.read() == read_events(path)[1:]
    assert EventTail(path, offset=len(line)).read() == read_events(path)[1:]


def test_outcome_of_a_run_without_epochs(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text("", encoding="utf-8")
    bare = run_outcome(tmp_path, cancelled=True)
    assert math.isnan(bare["loss"])
    assert math.isnan(bare["perplexity"])
    assert (bare["loss_unit"], bare["steps"], bare["epochs_completed"]) == ("token", 0, 0)
    assert bare["cancelled"]
    with JsonlFileSink(tmp_path / "events.jsonl") as sink:
        sink.emit(
            make_config_event(
                job_id="r",
                user_id=0,
                model_family="char_lstm",
                model_size="tiny",
                total_epochs=1,
                loss_unit="char",
            )
        )
    assert run_outcome(tmp_path, cancelled=False)["loss_unit"] == "char"


class Fake:
    """A run folder as rank 0 leaves it, and a short real process standing in for torchrun."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "runs" / "run"
        self.folder.mkdir(parents=True)
        self.log = root / "torchrun.log"

    def record(self, state: JobState) -> JobRecord:
        record = new_job_record(run_id="run", job_id="run", kind="train", now=time.time())
        written: JobRecord = {**record, "state": state}
        write_job(self.folder, written)
        return written

    def events(self, *events: Event) -> None:
        with JsonlFileSink(self.folder / "events.jsonl") as sink:
            for event in events:
                sink.emit(event)

    def job(
        self, code: str, sinks: list[ListSink] | None = None, before: JobRecord | None = None
    ) -> DistributedJob:
        with self.log.open("wb") as log:
            process = subprocess.Popen([PYTHON, "-c", code], stdout=log, stderr=subprocess.STDOUT)
        return DistributedJob(
            process=process,
            run_id="run",
            folder=self.folder,
            command=[PYTHON],
            log_path=self.log,
            sinks=[] if sinks is None else sinks,
            offset=0,
            poll_s=0.02,
            before=before,
        )


def test_a_torchrun_that_never_started_the_run(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    job = fake.job("import sys; print('no such module'); sys.exit(1)")
    assert job.wait(30)
    assert job.done()
    assert job.state == "failed"
    assert job.returncode == 1
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert caught.value.code == "INTERNAL_ERROR"
    assert "torchrun exited with status 1 before run 'run' started" in caught.value.message
    assert "no such module" in caught.value.message


def test_a_torchrun_that_never_resumed_the_run(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    before = fake.record("failed")
    job = fake.job("import sys; print('world size differs'); sys.exit(1)", before=before)
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert "before run 'run' started" in caught.value.message
    assert "world size differs" in caught.value.message
    assert read_job(fake.folder) == before


def test_rank_0_killed_so_the_launcher_records_the_failure(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    fake.record("running")
    fake.events(config_event(), epoch_event(1))
    sink = ListSink()
    job = fake.job("import time; time.sleep(0.2)", [sink])
    states = [job.state]
    assert job.wait(30)
    states.append(job.state)
    assert states == ["running", "failed"]
    record = read_job(fake.folder)
    assert (record["state"], record["error_code"]) == ("failed", "INTERNAL_ERROR")
    written = read_events(fake.folder / "events.jsonl")
    assert [event["type"] for event in written] == [
        "trainer.metrics.config.v1",
        "trainer.metrics.epoch.v1",
        "trainer.job.failed.v1",
    ]
    assert sink.events == written == job.events
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert "rank 0 ended without recording an end" in caught.value.message
    assert record["error_message"] == caught.value.message


@pytest.mark.parametrize("state", ["completed", "cancelled"])
def test_the_outcome_of_a_run_rank_0_ended(tmp_path: Path, state: JobState) -> None:
    fake = Fake(tmp_path)
    fake.record(state)
    fake.events(config_event(), epoch_event(1), epoch_event(2))
    job = fake.job("pass")
    end = job.result()
    assert job.state == state
    assert end == {
        "loss": 1.0,
        "perplexity": pytest.approx(math.e),
        "val_loss": 2.5,
        "val_perplexity": math.exp(2.5),
        "loss_unit": "char",
        "steps": 0,
        "epochs_completed": 2,
        "tokens_per_second": 100.0,
        "out_dir": str(fake.folder),
        "cancelled": state == "cancelled",
    }
    assert [event["type"] for event in job.events if is_epoch(event)] == [
        "trainer.metrics.epoch.v1"
    ] * 2


def test_stop_sends_sigterm_to_torchrun(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    fake.record("running")
    fake.events(config_event())
    job = fake.job("import time; time.sleep(60)")
    assert not job.cancel_requested()
    job.cancel()
    assert job.cancel_requested()
    assert job.wait(30)
    assert job.returncode == -signal.SIGTERM
    job.cancel()
    end = job.result()
    assert end["cancelled"]
    assert job.state == "cancelled"
    record = read_job(fake.folder)
    assert (record["state"], record["error_code"]) == ("cancelled", "TRAINING_CANCELLED")
    assert "stopped before it could" in (record["error_message"] or "")
    last = job.events[-1]
    assert is_failed(last)
    assert (last["code"], last["error_kind"]) == ("TRAINING_CANCELLED", "user")


def test_launch_refuses_before_starting_anything(
    settings: Settings, make_config: MakeConfig
) -> None:
    cfg = make_config()
    with pytest.raises(ModelTrainerError) as caught:
        launch_distributed(cfg, 0, settings)
    assert caught.value.code == "INVALID_CONFIG"
    with pytest.raises(ModelTrainerError) as caught:
        launch_distributed({**cfg, "model_family": "nope"}, 2, settings)
    assert caught.value.code == "MODEL_NOT_FOUND"
    with pytest.raises(ModelTrainerError) as caught:
        launch_distributed(cfg, 2, settings, run_id="../x")
    assert caught.value.code == "INVALID_CONFIG"
    (Path(settings["runs_dir"]) / "taken").mkdir(parents=True)
    with pytest.raises(ModelTrainerError) as caught:
        launch_distributed(cfg, 2, settings, run_id="taken")
    assert "already exists" in caught.value.message
    with pytest.raises(ModelTrainerError) as caught:
        resume_distributed("missing", 2, settings)
    assert caught.value.code == "MODEL_NOT_FOUND"
    assert sorted(path.name for path in Path(settings["runs_dir"]).iterdir()) == ["taken"]


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
    status = distributed_resume(
        "one", settings, report=wait_quietly, env=env, init_method=f"file://{tmp_path / 's2'}"
    )
    assert status == 0
    assert read_job(folder)["state"] == "completed"
    epochs = [event for event in read_events(folder / "events.jsonl") if is_epoch(event)]
    assert [event["epoch"] for event in epochs] == [1, 2, 3]

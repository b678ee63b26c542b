"""The torchrun launcher: its command, its environment, and the job that follows its run."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Protocol

import pytest
import torch

from model_trainer.core.config.settings import Settings, load_settings
from model_trainer.core.contracts.model import (
    EpochMetrics,
    ModelTrainConfig,
    PreparedLMModel,
    TrainOutcome,
)
from model_trainer.core.distributed.launcher import (
    TETHER,
    EventTail,
    Torchrun,
    launch_distributed,
    resume_distributed,
    run_outcome,
    settings_env,
    torchrun_command,
    torchrun_job,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import is_failed
from model_trainer.core.events.sinks import JsonlFileSink, ListSink
from model_trainer.core.events.trainer_metrics_events import (
    is_epoch,
    make_config_event,
    make_epoch_event,
)
from model_trainer.core.jobs.job_store import JobRecord, new_job_record, read_job, write_job
from model_trainer.core.jobs.runner import JobHandle, JobState
from model_trainer.core.training.checkpoint import (
    capture_checkpoint,
    save_checkpoint,
    start_position,
)
from model_trainer.core.training.early_stop import NEVER

PYTHON = sys.executable


class MakeConfig(Protocol):
    """Builds a tiny config with integer fields replaced (the ``make_config`` fixture)."""

    def __call__(self, **fields: int) -> ModelTrainConfig: ...


def test_settings_travel_to_torchrun_in_the_environment() -> None:
    settings: Settings = {
        "runs_dir": "some/runs",
        "max_corpus_chars": 1234,
        "max_stream_chars": 99,
        "heartbeat_timeout_s": 0.25,
        "progress_interval_s": 1e-7,
        "num_threads": 2,
        "cache_max_mb": 512,
    }
    env = settings_env(settings)
    assert env["MODEL_TRAINER_PROGRESS_INTERVAL_S"] == "0.0000001"
    assert load_settings(env) == {**settings, "runs_dir": os.path.abspath("some/runs")}


def test_torchrun_command_for_one_node_and_for_several() -> None:
    one = torchrun_command(nproc_per_node=2, nnodes=1, rdzv_endpoint=None, rdzv_id="r", python="py")
    assert one == ["py", "-m", TETHER, "--nproc-per-node=2", "--standalone"]
    many = torchrun_command(
        nproc_per_node=8, nnodes=2, rdzv_endpoint="h:29400", rdzv_id="r", oversubscribe=True
    )
    assert many == [
        PYTHON,
        "-m",
        TETHER,
        "--nproc-per-node=8",
        "--nnodes=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=h:29400",
        "--rdzv-id=r",
    ]


@pytest.mark.parametrize(
    ("nproc", "nnodes", "endpoint", "words"),
    [
        ("0", 1, None, "nproc_per_node must be an integer >= 1, got 0"),
        ('"2"', 1, None, "nproc_per_node must be an integer >= 1, got '2'"),
        ("2.5", 1, None, "nproc_per_node must be an integer >= 1, got 2.5"),
        ("true", 1, None, "nproc_per_node must be an integer >= 1, got True"),
        ("1000000", 1, None, "nproc_per_node must be an integer in [1, "),
        ("1", 0, "h:1", "nnodes must be an integer >= 1, got 0"),
        ("1", 2, None, "nnodes=2 needs rdzv_endpoint"),
    ],
)
def test_torchrun_command_refuses(
    nproc: str, nnodes: int, endpoint: str | None, words: str
) -> None:
    """``nproc`` is JSON: any value a caller without types could pass."""
    with pytest.raises(ModelTrainerError) as caught:
        torchrun_command(
            nproc_per_node=json.loads(nproc), nnodes=nnodes, rdzv_endpoint=endpoint, rdzv_id="r"
        )
    assert caught.value.code == "INVALID_CONFIG"
    assert words in caught.value.message


def config_event(job_id: str = "run") -> Event:
    return make_config_event(
        job_id=job_id,
        user_id=0,
        model_family="char_lstm",
        model_size="tiny",
        total_epochs=2,
        loss_unit="char",
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


def metrics(epoch: int) -> EpochMetrics:
    return {
        "epoch": epoch,
        "global_step": 3 * epoch,
        "steps": 3,
        "elapsed_s": 1.0,
        "loss": 2.0 / epoch,
        "perplexity": math.exp(2.0 / epoch),
        "val_loss": 2.5,
        "val_perplexity": math.exp(2.5),
        "tokens_per_second": 100.0 * epoch,
        "learning_rate": 1e-3,
    }


def checkpoint(folder: Path, prepared: PreparedLMModel, epochs: int) -> None:
    """A real checkpoint of ``prepared`` after ``epochs`` epochs of 3 steps."""
    model = prepared["model"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(
        str(folder / "checkpoint"),
        capture_checkpoint(
            model=model,
            optimizer=optimizer,
            scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
            position={**start_position(), "global_step": 3 * epochs, "epoch": epochs},
            history=[metrics(epoch) for epoch in range(1, epochs + 1)],
            seed=0,
        ),
    )


def test_outcome_of_a_run_is_its_last_checkpoint(
    tmp_path: Path, prepare: PrepareModel, make_config: MakeConfig
) -> None:
    bare = run_outcome(tmp_path, loss_unit="char", num_epochs=2, stopping=NEVER)
    assert math.isnan(bare["loss"])
    assert math.isnan(bare["perplexity"])
    assert (bare["loss_unit"], bare["steps"], bare["epochs_completed"]) == ("char", 0, 0)
    assert bare["cancelled"]
    checkpoint(tmp_path, prepare(make_config()), 2)
    assert run_outcome(tmp_path, loss_unit="token", num_epochs=2, stopping=NEVER) == {
        "loss": 1.0,
        "perplexity": math.exp(1.0),
        "val_loss": 2.5,
        "val_perplexity": math.exp(2.5),
        "loss_unit": "token",
        "steps": 6,
        "epochs_completed": 2,
        "tokens_per_second": 200.0,
        "out_dir": str(tmp_path),
        "cancelled": False,
        "stop_reason": "completed",
    }


def test_a_run_that_stopped_early_is_no_cancelled_run(
    tmp_path: Path, prepare: PrepareModel, make_config: MakeConfig
) -> None:
    checkpoint(tmp_path, prepare(make_config()), 2)  # validation loss flat: no improvement
    patient = run_outcome(
        tmp_path, loss_unit="char", num_epochs=3, stopping={"patience": 1, "min_delta": 0.0}
    )
    assert (patient["stop_reason"], patient["cancelled"]) == ("early_stopping", False)
    stopped = run_outcome(tmp_path, loss_unit="char", num_epochs=3, stopping=NEVER)
    assert (stopped["stop_reason"], stopped["cancelled"]) == ("cancelled", True)


class PrepareModel(Protocol):
    """Builds a fresh tiny char-LSTM of a config (the ``prepare`` fixture)."""

    def __call__(self, cfg: ModelTrainConfig) -> PreparedLMModel: ...


class Fake:
    """A run folder as rank 0 leaves it, written by a short real process.

    The process stands in for torchrun: it copies a staged ``job.json`` and events into
    the run folder, then runs ``code``.
    """

    def __init__(self, root: Path) -> None:
        self.folder = root / "runs" / "run"
        self.folder.mkdir(parents=True)
        self.staged = root / "staged"
        self.staged.mkdir()
        self.log = root / "torchrun.log"

    def record(self, state: JobState, *, now: bool = False) -> JobRecord:
        """A ``job.json`` of ``state``: in the run folder ``now``, else written by the process."""
        record = new_job_record(run_id="run", job_id="run", kind="train", now=time.time())
        written: JobRecord = {**record, "state": state}
        write_job(self.folder if now else self.staged, written)
        return written

    def events(self, *events: Event) -> None:
        """Events the process appends to the run's ``events.jsonl``."""
        with JsonlFileSink(self.staged / "events.jsonl") as sink:
            for event in events:
                sink.emit(event)

    def job(
        self, code: str = "pass", sinks: list[ListSink] | None = None
    ) -> JobHandle[TrainOutcome]:
        copy = (
            f"import shutil; shutil.copytree({str(self.staged)!r}, {str(self.folder)!r}, "
            f"dirs_exist_ok=True)\n"
        )
        torchrun = Torchrun(
            command=[PYTHON, "-c", copy + code],
            env=os.environ,
            run_id="run",
            folder=self.folder,
            log_path=self.log,
            num_epochs=2,
            stopping=NEVER,
            poll_s=0.02,
        )
        assert torchrun.pid is None
        assert torchrun.returncode is None
        return torchrun_job(torchrun, sinks=[] if sinks is None else sinks)


def torchrun_of(job: JobHandle[TrainOutcome]) -> Torchrun:
    assert isinstance(job.work, Torchrun)
    return job.work


def test_a_torchrun_that_never_started_the_run(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    job = fake.job("import sys; print('no such module'); sys.exit(1)")
    assert job.wait(30)
    assert job.done()
    assert job.state == "failed"
    assert torchrun_of(job).returncode == 1
    assert job.events == []
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert caught.value.code == "INTERNAL_ERROR"
    assert "torchrun exited with status 1 before run 'run' started" in caught.value.message
    assert "no such module" in caught.value.message


def test_a_torchrun_that_never_resumed_the_run(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    before = fake.record("failed", now=True)
    shutil.copy(fake.folder / "job.json", fake.staged / "job.json")
    job = fake.job("import sys; print('world size differs'); sys.exit(1)")
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
    assert job.wait(30)
    assert job.state == "failed"
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


def test_a_failure_rank_0_recorded_is_the_jobs(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    record = fake.record("failed")
    write_job(
        fake.staged,
        {**record, "error_code": "TRAINING_NAN_LOSS", "error_message": "loss is nan at step 4"},
    )
    job = fake.job()
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert (caught.value.code, caught.value.message) == (
        "TRAINING_NAN_LOSS",
        "loss is nan at step 4",
    )
    bare = Fake(tmp_path / "bare")
    bare.record("failed")
    with pytest.raises(ModelTrainerError) as unnamed:
        bare.job().result()
    assert (unnamed.value.code, unnamed.value.message) == ("INTERNAL_ERROR", "run 'run' failed")


@pytest.mark.parametrize(("state", "epochs"), [("completed", 2), ("cancelled", 1)])
def test_the_outcome_of_a_run_rank_0_ended(
    tmp_path: Path,
    state: JobState,
    epochs: int,
    prepare: PrepareModel,
    make_config: MakeConfig,
) -> None:
    fake = Fake(tmp_path)
    record = fake.record(state)
    if state == "cancelled":
        write_job(fake.staged, {**record, "error_message": "stopped at step 3"})
    fake.events(config_event(), *(epoch_event(epoch) for epoch in range(1, epochs + 1)))
    checkpoint(fake.folder, prepare(make_config()), epochs)
    job = fake.job()
    end = job.result()
    assert job.state == state
    assert end == run_outcome(fake.folder, loss_unit="char", num_epochs=2, stopping=NEVER)
    assert (end["loss_unit"], end["epochs_completed"], end["cancelled"]) == (
        "char",
        epochs,
        state == "cancelled",
    )
    assert [event["type"] for event in job.events if is_epoch(event)] == [
        "trainer.metrics.epoch.v1"
    ] * epochs
    error = job.error
    if state == "cancelled":
        assert error is not None
        assert (error.code, error.message) == ("TRAINING_CANCELLED", "stopped at step 3")
    else:
        assert error is None


def test_stop_sends_sigterm_to_torchrun(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    fake.record("running")
    fake.events(config_event())
    job = fake.job("import time; time.sleep(60)")
    deadline = time.monotonic() + 30
    while not job.events:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not job.cancel_requested()
    job.cancel()
    assert job.cancel_requested()
    assert job.wait(30)
    assert torchrun_of(job).returncode == -signal.SIGTERM
    job.cancel()
    end = job.result()
    assert end["cancelled"]
    assert job.state == "cancelled"
    record = read_job(fake.folder)
    assert (record["state"], record["error_code"]) == ("cancelled", "TRAINING_CANCELLED")
    assert "stopped before it could" in (record["error_message"] or "")
    error = job.error
    assert error is not None
    assert error.message == record["error_message"]
    last = job.events[-1]
    assert is_failed(last)
    assert (last["code"], last["error_kind"]) == ("TRAINING_CANCELLED", "user")


def test_a_stop_before_torchrun_starts_stops_it_once_it_has(tmp_path: Path) -> None:
    fake = Fake(tmp_path)
    torchrun = Torchrun(
        command=[PYTHON, "-c", "import time; time.sleep(60)"],
        env=os.environ,
        run_id="run",
        folder=fake.folder,
        log_path=fake.log,
        num_epochs=2,
        stopping=NEVER,
    )
    handle: JobHandle[TrainOutcome] = JobHandle(
        kind="train", job_id="run", run_id="run", run_dir="", work=torchrun, announce=False
    )
    handle.cancel()
    handle.start()
    assert handle.wait(30)
    assert torchrun.returncode == -signal.SIGTERM
    with pytest.raises(ModelTrainerError) as caught:
        handle.result()
    assert "torchrun exited with status -15 before run 'run' started" in caught.value.message


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
    with pytest.raises(ModelTrainerError, match="under torchrun") as caught:
        launch_distributed({**cfg, "device": "cuda:1"}, 2, settings)
    assert caught.value.code == "INVALID_CONFIG"
    (Path(settings["runs_dir"]) / "taken").mkdir(parents=True)
    with pytest.raises(ModelTrainerError) as caught:
        launch_distributed(cfg, 2, settings, run_id="taken")
    assert "already exists" in caught.value.message
    with pytest.raises(ModelTrainerError) as caught:
        resume_distributed("missing", 2, settings)
    assert caught.value.code == "MODEL_NOT_FOUND"
    assert sorted(path.name for path in Path(settings["runs_dir"]).iterdir()) == ["taken"]

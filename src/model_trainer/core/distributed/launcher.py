"""Starting torchrun from a notebook, and following its run as an ordinary train job.

``launch_distributed`` (and ``resume_distributed``) returns a ``JobHandle`` whose work
(``Torchrun``) starts torchrun as a program of its own (never a fork of the caller) and
forwards the events rank 0 appends to the run's ``events.jsonl`` to the handle's sinks and
view; the handle's ``cancel`` sends SIGTERM to torchrun, which passes it to every rank, and
the run stops at its next step with a checkpoint. When torchrun ends while ``job.json``
still says the run is active (rank 0 was killed), the work records the run ``failed`` there
(``cancelled`` after a Stop) and appends the failed event. The config file it hands
torchrun and torchrun's log live in ``<runs_dir>/.launch/<run_id>/``. torchrun runs in a
session of its own (a Ctrl-C in the caller's terminal is not its), tied to the caller's
process: when that ends, torchrun gets SIGTERM and stops its ranks (``tether.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final

import torch

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.backends.start import resolve_start
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import LossUnit, ModelTrainConfig, TrainOutcome
from model_trainer.core.contracts.validators import validate_model_train_config
from model_trainer.core.distributed.tether import PARENT_ENV
from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode, user_error
from model_trainer.core.events.codec import Event, decode_event
from model_trainer.core.events.job_events import make_failed_event
from model_trainer.core.events.sinks import EventSink, JsonlFileSink, cut_torn_line
from model_trainer.core.events.trainer_metrics_events import is_config
from model_trainer.core.jobs.job_store import JOB_FILE, JobRecord, read_job, write_job
from model_trainer.core.jobs.run_store import (
    ACTIVE_STATES,
    EVENTS_FILE,
    existing_run_dir,
    new_run_id,
    run_dir,
    validate_run_id,
)
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory
from model_trainer.core.jobs.train_job import resumable_source
from model_trainer.core.training.checkpoint import (
    CHECKPOINT_DIR,
    STATE_FILE,
    latest_name,
    read_meta,
)
from model_trainer.core.training.distributed import check_rank_device
from model_trainer.core.training.early_stop import EarlyStopping, early_stopping
from model_trainer.core.training.manifest import read_manifest
from model_trainer.core.training.outcome import train_outcome

POLL_S: Final = 0.1
LAUNCH_DIR: Final = ".launch"
CONFIG_FILE: Final = "config.json"
LOG_FILE: Final = "torchrun.log"
LOG_TAIL_CHARS: Final = 2000
TETHER: Final = "model_trainer.core.distributed.tether"
"""The program that is torchrun, tied to the launching process (``tether.py``)."""


def _number(value: float) -> str:
    """``value`` in plain decimal notation, as ``load_settings`` reads it back."""
    return f"{Decimal(repr(value)):f}"


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``MODEL_TRAINER_*`` variables that give another process these ``settings``."""
    return {
        "MODEL_TRAINER_RUNS_DIR": os.path.abspath(settings["runs_dir"]),
        "MODEL_TRAINER_MAX_CORPUS_CHARS": str(settings["max_corpus_chars"]),
        "MODEL_TRAINER_MAX_STREAM_CHARS": str(settings["max_stream_chars"]),
        "MODEL_TRAINER_HEARTBEAT_TIMEOUT_S": _number(settings["heartbeat_timeout_s"]),
        "MODEL_TRAINER_PROGRESS_INTERVAL_S": _number(settings["progress_interval_s"]),
        "MODEL_TRAINER_NUM_THREADS": str(settings["num_threads"]),
        "MODEL_TRAINER_CACHE_MAX_MB": str(settings["cache_max_mb"]),
    }


def torchrun_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a torchrun started here: ``base`` with ``settings``.

    Output is unbuffered, and this process is the one whose end stops torchrun (``tether.py``).
    """
    return {
        **base,
        **settings_env(settings),
        "PYTHONUNBUFFERED": "1",
        PARENT_ENV: str(os.getpid()),
    }


def local_slots() -> int:
    """How many processes a node runs at most by default: its GPUs, else its CPU cores."""
    return torch.cuda.device_count() or os.cpu_count() or 1


def torchrun_command(
    *,
    nproc_per_node: int,
    nnodes: int,
    rdzv_endpoint: str | None,
    rdzv_id: str,
    python: str = sys.executable,
    oversubscribe: bool = False,
) -> list[str]:
    """The torchrun command line up to the program it runs.

    One node (no ``rdzv_endpoint``) meets on a free local port (``--standalone``); several
    meet at ``rdzv_endpoint`` (``host:port``) under ``rdzv_id``, and every node runs the same
    command.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a count that is not an integer or is below
            1, more processes per node than ``local_slots()`` unless ``oversubscribe``, or
            several nodes without a rendezvous endpoint.
    """
    counts = {"nproc_per_node": nproc_per_node, "nnodes": nnodes}
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"{name} must be an integer >= 1, got {count!r} "
                f"(nproc_per_node={nproc_per_node!r}, nnodes={nnodes!r})",
            )
    slots = local_slots()
    if nproc_per_node > slots and not oversubscribe:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"nproc_per_node must be an integer in [1, {slots}] (this machine's GPUs, else "
            f"its CPU cores), got {nproc_per_node}; pass oversubscribe=True to run more",
        )
    base = [python, "-m", TETHER, f"--nproc-per-node={nproc_per_node}"]
    if rdzv_endpoint is None and nnodes > 1:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"nnodes={nnodes} needs rdzv_endpoint (host:port of one node)"
        )
    if rdzv_endpoint is None:
        return [*base, "--standalone"]
    return [
        *base,
        f"--nnodes={nnodes}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={rdzv_endpoint}",
        f"--rdzv-id={rdzv_id}",
    ]


class EventTail:
    """Reads the events appended to a JSON-lines file since the last read."""

    def __init__(self, path: Path, *, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._partial = b""

    def read(self) -> list[Event]:
        """The complete lines written since the last call, decoded (none before the file is)."""
        if not self.path.is_file():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return [decode_event(line.decode("utf-8")) for line in lines]


def run_outcome(
    folder: Path, *, loss_unit: LossUnit, num_epochs: int, stopping: EarlyStopping
) -> TrainOutcome:
    """A run's ``TrainOutcome`` as its last checkpoint says: its epochs and its step.

    Fewer than ``num_epochs`` epochs is an early stop when ``stopping`` says so, else a Stop.
    """
    root = folder / CHECKPOINT_DIR
    name = latest_name(str(root))
    meta = None if name is None else read_meta(str(root / name / STATE_FILE))
    return train_outcome(
        history=[] if meta is None else meta["history"],
        steps=0 if meta is None else meta["position"]["global_step"],
        loss_unit=loss_unit,
        out_dir=str(folder),
        num_epochs=num_epochs,
        stopping=stopping,
    )


class Torchrun:
    """The work of a launched run's job: run torchrun, forward the run's events, read its end.

    ``command`` is the torchrun command line (on several nodes, run it on each of the others
    too); ``log_path`` holds torchrun's output; ``pid`` and ``returncode`` are torchrun's
    once the job has started it.

    Args:
        command: the torchrun command line.
        env: torchrun's environment.
        run_id: the run it trains.
        folder: that run's folder.
        log_path: the file torchrun's output is appended to.
        num_epochs: the epochs the run plans (fewer finished: stopped early or cancelled).
        stopping: the run's early-stopping rule, which tells the two apart.
        poll_s: how often the run's events are read while torchrun runs.
    """

    def __init__(
        self,
        *,
        command: list[str],
        env: Mapping[str, str],
        run_id: str,
        folder: Path,
        log_path: Path,
        num_epochs: int,
        stopping: EarlyStopping,
        poll_s: float = POLL_S,
    ) -> None:
        self.command = command
        self.env = dict(env)
        self.run_id = run_id
        self.folder = folder
        self.log_path = log_path
        self.num_epochs = num_epochs
        self.stopping = stopping
        self.poll_s = poll_s
        self.process: subprocess.Popen[bytes] | None = None
        self._loss_unit: LossUnit = "token"
        self._end_message: str | None = None

    @property
    def pid(self) -> int | None:
        """The process id of torchrun (its ranks are its child processes); None before."""
        return None if self.process is None else self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status of torchrun; None before it starts and while it runs."""
        return None if self.process is None else self.process.poll()

    def __call__(self, control: JobControl) -> TrainOutcome:
        """Run torchrun to its end, forwarding the run's new events; return the run's outcome.

        Raises:
            ModelTrainerError: the run's recorded error when it failed; ``INTERNAL_ERROR``
                with the end of torchrun's log when rank 0 never started its job.
        """
        events = self.folder / EVENTS_FILE
        tail = EventTail(events, offset=cut_torn_line(events))
        before = read_job(self.folder) if (self.folder / JOB_FILE).is_file() else None
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                self.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.process = process
        # Popen.send_signal does nothing once the process has ended.
        control.on_cancel(lambda: process.send_signal(signal.SIGTERM))
        while process.poll() is None:
            self._forward(control, tail.read())
            time.sleep(self.poll_s)
        self._forward(control, tail.read())
        record = read_job(self.folder) if (self.folder / JOB_FILE).is_file() else None
        if record is None or record == before:
            raise ModelTrainerError(
                "INTERNAL_ERROR",
                f"torchrun exited with status {process.returncode} before run "
                f"{self.run_id!r} started; the end of {self.log_path}:\n{self._log_tail()}",
            )
        if record["state"] in ACTIVE_STATES:
            record = self._record_lost_end(control, record, process.returncode)
        if record["state"] == "failed":
            raise ModelTrainerError(
                record["error_code"] or "INTERNAL_ERROR",
                record["error_message"] or f"run {self.run_id!r} failed",
            )
        self._end_message = record["error_message"]
        return run_outcome(
            self.folder,
            loss_unit=self._loss_unit,
            num_epochs=self.num_epochs,
            stopping=self.stopping,
        )

    def cancel_message(self, outcome: TrainOutcome) -> str | None:
        """What the job's ``TRAINING_CANCELLED`` record says when the run was cancelled."""
        if not outcome["cancelled"]:
            return None
        return self._end_message or f"run {self.run_id!r} was cancelled"

    def _forward(self, control: JobControl, events: list[Event]) -> None:
        for event in events:
            if is_config(event):
                self._loss_unit = event.get("loss_unit", self._loss_unit)
            control.emit(event)

    def _log_tail(self) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-LOG_TAIL_CHARS:]

    def _record_lost_end(
        self, control: JobControl, record: JobRecord, returncode: int
    ) -> JobRecord:
        """Mark the run ended in ``job.json`` and its events: cancelled after a Stop, or failed."""
        stopped = control.cancelled()
        code: ModelTrainerErrorCode = "TRAINING_CANCELLED" if stopped else "INTERNAL_ERROR"
        message = (
            f"torchrun exited with status {returncode} while run {self.run_id!r} was "
            f"{record['state']}: rank 0 ended without recording an end "
            f"({'stopped before it could' if stopped else 'killed or lost'}; see "
            f"{self.log_path}); resume the run to continue from its last checkpoint"
        )
        ended: JobRecord = {
            **record,
            "state": "cancelled" if stopped else "failed",
            "heartbeat_at": time.time(),
            "error_code": code,
            "error_message": message,
        }
        write_job(self.folder, ended)
        failed = make_failed_event(
            job_id=record["job_id"],
            user_id=0,
            error_kind="user" if user_error(code) else "system",
            code=code,
            message=message,
        )
        with JsonlFileSink(self.folder / EVENTS_FILE) as sink:
            sink.emit(failed)
        control.emit(failed)
        return ended


def torchrun_job(
    torchrun: Torchrun,
    *,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
) -> JobHandle[TrainOutcome]:
    """The started train job of ``torchrun``: its events are the run's, from now on."""
    handle: JobHandle[TrainOutcome] = JobHandle(
        kind="train",
        job_id=torchrun.run_id,
        run_id=torchrun.run_id,
        run_dir=str(torchrun.folder),
        work=torchrun,
        sinks=sinks,
        view=view,
        cancel_message=torchrun.cancel_message,
        announce=False,
    )
    return handle.start()


def _launch(
    program: list[str],
    *,
    run_id: str,
    config: ModelTrainConfig,
    nproc_per_node: int,
    settings: Settings,
    sinks: Sequence[EventSink],
    view: ViewFactory | None,
    nnodes: int,
    rdzv_endpoint: str | None,
    env: Mapping[str, str] | None,
    poll_s: float,
    oversubscribe: bool,
) -> JobHandle[TrainOutcome]:
    command = [
        *torchrun_command(
            nproc_per_node=nproc_per_node,
            nnodes=nnodes,
            rdzv_endpoint=rdzv_endpoint,
            rdzv_id=run_id,
            oversubscribe=oversubscribe,
        ),
        "-m",
        "model_trainer",
        *program,
        "--runs-dir",
        os.path.abspath(settings["runs_dir"]),
        "--json",
    ]
    base = os.environ if env is None else env
    torchrun = Torchrun(
        command=command,
        env=torchrun_env(settings, base),
        run_id=run_id,
        folder=run_dir(settings, run_id),
        log_path=Path(settings["runs_dir"]) / LAUNCH_DIR / run_id / LOG_FILE,
        num_epochs=config["num_epochs"],
        stopping=early_stopping(config),
        poll_s=poll_s,
    )
    return torchrun_job(torchrun, sinks=sinks, view=view)


def launch_distributed(
    config: ModelTrainConfig,
    nproc_per_node: int,
    settings: Settings,
    *,
    run_id: str | None = None,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    registry: ModelRegistry = default_registry,
    poll_s: float = POLL_S,
    oversubscribe: bool = False,
) -> JobHandle[TrainOutcome]:
    """Train a new run of ``config`` on ``nproc_per_node`` torchrun processes; returns at once.

    torchrun runs as its own program (``model-trainer train --config ...`` on each rank)
    with ``env`` (default: this process's) and ``settings`` in its environment; the job
    follows the run's events into ``sinks`` and ``view``. On several nodes (``nnodes``,
    ``rdzv_endpoint``) run ``job.work.command`` on each other node as well.

    Raises:
        ModelTrainerError: the config's errors, ``INVALID_CONFIG`` for a bad or taken run
            id or bad process counts; later failures are the job's (``result()``).
    """
    config = resolve_start(config, registry)
    validate_model_train_config(
        config, registry.require(config["model_family"], "supports_distributed")
    )
    check_rank_device(config["device"])
    run_id = (
        new_run_id(config["model_family"], config["model_size"])
        if run_id is None
        else validate_run_id(run_id)
    )
    torchrun_command(
        nproc_per_node=nproc_per_node,
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        rdzv_id=run_id,
        oversubscribe=oversubscribe,
    )
    if run_dir(settings, run_id).exists():
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"run_id {run_id!r} already exists in {settings['runs_dir']!r}; "
            f"pick another run_id or resume it",
        )
    launch = Path(settings["runs_dir"]) / LAUNCH_DIR / run_id
    launch.mkdir(parents=True, exist_ok=True)
    config_path = launch / CONFIG_FILE
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return _launch(
        ["train", "--config", str(config_path.resolve()), "--run-id", run_id],
        run_id=run_id,
        config=config,
        nproc_per_node=nproc_per_node,
        settings=settings,
        sinks=sinks,
        view=view,
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        env=env,
        poll_s=poll_s,
        oversubscribe=oversubscribe,
    )


def resume_distributed(
    run_id: str,
    nproc_per_node: int,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    poll_s: float = POLL_S,
    oversubscribe: bool = False,
) -> JobHandle[TrainOutcome]:
    """Continue run ``run_id`` from its last checkpoint on torchrun processes; returns at once.

    The job's events are the ones appended from now on. ``nproc_per_node * nnodes`` must be
    the world size the run started with; rank 0 checks the rest as ``resume_train`` does.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for an unknown run, ``INVALID_CONFIG`` for
            bad process counts, ``MODEL_INCOMPATIBLE`` for another world size or a corpus or
            tokenizer changed since the run started.
    """
    folder = existing_run_dir(settings, run_id)
    torchrun_command(
        nproc_per_node=nproc_per_node,
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        rdzv_id=run_id,
        oversubscribe=oversubscribe,
    )
    manifest = read_manifest(str(folder))
    world_size = manifest["world_size"]
    if world_size != nproc_per_node * nnodes:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"run_id {run_id!r} was trained by world_size={world_size} processes; resume it "
            f"on as many, not nproc_per_node={nproc_per_node} x nnodes={nnodes}",
        )
    resumable_source(folder, manifest, settings)
    (Path(settings["runs_dir"]) / LAUNCH_DIR / run_id).mkdir(parents=True, exist_ok=True)
    return _launch(
        ["resume", run_id],
        run_id=run_id,
        config=manifest["config"],
        nproc_per_node=nproc_per_node,
        settings=settings,
        sinks=sinks,
        view=view,
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        env=env,
        poll_s=poll_s,
        oversubscribe=oversubscribe,
    )

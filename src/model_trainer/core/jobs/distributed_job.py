"""Training one run on several processes with torchrun, and starting torchrun from a notebook.

Under torchrun every process runs the same command (``model-trainer train --config
run.json``). ``distributed_train`` (and ``distributed_resume``) joins the process group,
takes rank 0's run id, and starts this rank's job: rank 0 runs the ordinary train job (run
folder, manifest with the world size, events, checkpoints, model, report); every other
rank trains the same model on its slice of each global batch and writes nothing. SIGTERM
or SIGINT (torchrun forwards both) stops every rank at the same step; rank 0 checkpoints
there and records the run ``cancelled``. When a rank dies the others fail at their next
exchange and rank 0 records the run ``failed``; torchrun then stops the rest.

The other ranks read rank 0's ``tokenizer.json`` and, on resume, its checkpoint: on several
nodes the runs folder must be on a filesystem that every node sees.

``launch_distributed`` (and ``resume_distributed``) starts torchrun as a program of its own
(never a fork of the caller) and returns a ``DistributedJob`` that follows the run's
``events.jsonl``; its ``cancel`` sends SIGTERM to torchrun. When torchrun ends while
``job.json`` still says the run is active (rank 0 was killed), the job records the run
``failed`` there (``cancelled`` after a Stop) and appends the failed event. The config file
it hands torchrun and torchrun's log live in ``<runs_dir>/.launch/<run_id>/``. torchrun
runs in a session of its own: it goes on if the caller's process ends.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Final

import torch

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    LossUnit,
    ModelTrainConfig,
    TrainContext,
    TrainOutcome,
)
from model_trainer.core.contracts.validators import validate_model_train_config
from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode, user_error
from model_trainer.core.events.codec import Event, decode_event, read_events
from model_trainer.core.events.job_events import make_failed_event
from model_trainer.core.events.sinks import EventSink, JsonlFileSink, cut_torn_line
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch
from model_trainer.core.jobs.job_store import JOB_FILE, JobRecord, read_job, write_job
from model_trainer.core.jobs.run_store import (
    ACTIVE_STATES,
    CHECKPOINT_DIR,
    EVENTS_FILE,
    TOKENIZER_FILE,
    existing_run_dir,
    new_run_id,
    run_dir,
    validate_run_id,
)
from model_trainer.core.jobs.runner import JobControl, JobHandle, JobState, Viewable
from model_trainer.core.jobs.train_job import resume_train, start_train
from model_trainer.core.tokenizers.io import load_tokenizer
from model_trainer.core.training.checkpoint import STATE_FILE, latest_name, read_meta
from model_trainer.core.training.dataset import load_data
from model_trainer.core.training.device import available_device
from model_trainer.core.training.distributed import (
    Collective,
    process_group,
    timeout_from_env,
    world_from_env,
)
from model_trainer.core.training.loss import perplexity
from model_trainer.core.training.manifest import read_manifest

EXIT_OK: Final = 0
EXIT_CANCELLED: Final = 130
POLL_S: Final = 0.1
LAUNCH_DIR: Final = ".launch"
CONFIG_FILE: Final = "config.json"
LOG_FILE: Final = "torchrun.log"
LOG_TAIL_CHARS: Final = 2000

TrainJob = JobHandle[TrainOutcome]
RankEnd = Callable[[TrainJob], int]
"""What a rank does with its started job; returns the process's exit status."""


def wait_quietly(handle: TrainJob) -> int:
    """Wait for ``handle`` without a word: 0 when it completes, 130 when it was stopped.

    Raises:
        ModelTrainerError: the job's error when it failed.
    """
    while not handle.wait(POLL_S):
        pass
    return EXIT_CANCELLED if handle.result()["cancelled"] else EXIT_OK


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on SIGTERM or SIGINT during the ``with`` block (main thread only)."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    kept = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in kept:
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, previous in kept.items():
            signal.signal(number, signal.SIG_DFL if previous is None else previous)


def _ignore(now: float) -> None:
    """A heartbeat nobody records (only rank 0 keeps ``job.json``)."""


class _FollowerWork:
    """The job of a rank other than 0: train the run's model on its slice, write nothing."""

    def __init__(
        self,
        *,
        cfg: ModelTrainConfig,
        settings: Settings,
        folder: Path,
        resume: bool,
        collective: Collective,
        registry: ModelRegistry,
    ) -> None:
        self.cfg = cfg
        self.settings = settings
        self.folder = folder
        self.resume = resume
        self.collective = collective
        self.registry = registry

    def __call__(self, control: JobControl) -> TrainOutcome:
        torch.set_num_threads(self.settings["num_threads"] or torch.get_num_threads())
        # Rank 0 meets the others when it starts training, after writing tokenizer.json.
        self.collective.meet_once()
        tokenizer = load_tokenizer(str(self.folder / TOKENIZER_FILE))
        backend = self.registry.get(self.cfg["model_family"])
        prepared = backend.prepare(self.cfg, self.settings, tokenizer=tokenizer)
        control.set_prepared(prepared)
        context: TrainContext = {
            "run_dir": str(self.folder),
            "resume": self.resume,
            "data": load_data(self.cfg, self.settings, prepared["tok_for_dataset"]),
            "callbacks": {
                "heartbeat": _ignore,
                "cancelled": control.cancelled,
                "progress": None,
            },
            "settings": self.settings,
        }
        return backend.train(self.cfg, prepared=prepared, context=context)


def start_rank_train(
    cfg: ModelTrainConfig,
    settings: Settings,
    collective: Collective,
    *,
    run_id: str,
    resume: bool,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
) -> TrainJob:
    """Start this rank's job of run ``run_id``; returns its handle at once.

    Rank 0 starts (or resumes) the run as ``start_train`` (``resume_train``) does, its
    manifest saying the world size, and its events go to ``sinks``. Another rank starts a
    job that trains alongside it and writes nothing; its handle's ``prepared`` is its model.
    """
    if collective.rank == 0 and resume:
        return resume_train(
            run_id, settings, sinks=sinks, registry=registry, world_size=collective.world_size
        )
    if collective.rank == 0:
        return start_train(
            cfg,
            settings,
            sinks=sinks,
            run_id=run_id,
            registry=registry,
            world_size=collective.world_size,
        )
    folder = run_dir(settings, run_id)
    handle: TrainJob = JobHandle(
        kind="train",
        job_id=run_id,
        run_id=run_id,
        run_dir=str(folder),
        work=_FollowerWork(
            cfg=cfg,
            settings=settings,
            folder=folder,
            resume=resume,
            collective=collective,
            registry=registry,
        ),
        cancel_message=lambda outcome: (
            f"rank {collective.rank} stopped" if outcome["cancelled"] else None
        ),
    )
    return handle.start()


def _run_rank(
    cfg: ModelTrainConfig,
    settings: Settings,
    *,
    run_id: str | None,
    resume: bool,
    report: RankEnd,
    follow: RankEnd,
    sinks: Sequence[EventSink],
    registry: ModelRegistry,
    env: Mapping[str, str] | None,
    init_method: str,
) -> int:
    source = os.environ if env is None else env
    world = world_from_env(source)
    validate_model_train_config(cfg, registry.require(cfg["model_family"], "supports_distributed"))
    device = available_device(cfg["device"])
    timeout_s = timeout_from_env(source)
    with process_group(
        world, device=device, timeout_s=timeout_s, init_method=init_method
    ) as collective:
        proposed = new_run_id(cfg["model_family"], cfg["model_size"]) if run_id is None else run_id
        shared = collective.share_text(proposed)
        handle = start_rank_train(
            cfg,
            settings,
            collective,
            run_id=shared,
            resume=resume,
            sinks=sinks,
            registry=registry,
        )
        with stop_on_signals(handle.cancel):
            return report(handle) if collective.rank == 0 else follow(handle)


def distributed_train(
    cfg: ModelTrainConfig,
    settings: Settings,
    *,
    report: RankEnd,
    follow: RankEnd = wait_quietly,
    run_id: str | None = None,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
    env: Mapping[str, str] | None = None,
    init_method: str = "env://",
) -> int:
    """Train a new run of ``cfg`` as this process's rank of torchrun's process group.

    Every rank calls this with the same config. Rank 0 picks the run id (``run_id``, or a
    new one), owns the run folder, sends its events to ``sinks`` and hands its job to
    ``report`` (the command line prints the outcome there); every other rank hands its job to
    ``follow``. Returns what they return. ``env`` (default: the process's) holds torchrun's
    variables and ``MODEL_TRAINER_DIST_TIMEOUT_S``; ``init_method`` says where ranks meet.

    Raises:
        ModelTrainerError: the config's errors (on every rank, before the group forms),
            ``INVALID_CONFIG`` for bad torchrun variables, a job's error, ``INTERNAL_ERROR``
            when the process group fails (another rank died).
    """
    return _run_rank(
        cfg,
        settings,
        run_id=run_id,
        resume=False,
        report=report,
        follow=follow,
        sinks=sinks,
        registry=registry,
        env=env,
        init_method=init_method,
    )


def distributed_resume(
    run_id: str,
    settings: Settings,
    *,
    report: RankEnd,
    follow: RankEnd = wait_quietly,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
    env: Mapping[str, str] | None = None,
    init_method: str = "env://",
) -> int:
    """Continue run ``run_id`` from its last checkpoint on torchrun's processes.

    As ``distributed_train``; the config is the run's manifest's, and the world size must be
    the one the run started with.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run), ``resume_train``'s errors on
            rank 0, and those of ``distributed_train``.
    """
    cfg = read_manifest(str(existing_run_dir(settings, run_id)))["config"]
    return _run_rank(
        cfg,
        settings,
        run_id=run_id,
        resume=True,
        report=report,
        follow=follow,
        sinks=sinks,
        registry=registry,
        env=env,
        init_method=init_method,
    )


def _number(value: float) -> str:
    """``value`` in plain decimal notation, as ``load_settings`` reads it back."""
    return f"{Decimal(repr(value)):f}"


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``MODEL_TRAINER_*`` variables that give another process these ``settings``."""
    return {
        "MODEL_TRAINER_RUNS_DIR": os.path.abspath(settings["runs_dir"]),
        "MODEL_TRAINER_MAX_CORPUS_CHARS": str(settings["max_corpus_chars"]),
        "MODEL_TRAINER_HEARTBEAT_TIMEOUT_S": _number(settings["heartbeat_timeout_s"]),
        "MODEL_TRAINER_PROGRESS_INTERVAL_S": _number(settings["progress_interval_s"]),
        "MODEL_TRAINER_NUM_THREADS": str(settings["num_threads"]),
    }


def torchrun_command(
    *,
    nproc_per_node: int,
    nnodes: int,
    rdzv_endpoint: str | None,
    rdzv_id: str,
    python: str = sys.executable,
) -> list[str]:
    """The torchrun command line up to the program it runs.

    One node (no ``rdzv_endpoint``) meets on a free local port (``--standalone``); several
    meet at ``rdzv_endpoint`` (``host:port``) under ``rdzv_id``, and every node runs the same
    command.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a count below 1, or several nodes without
            a rendezvous endpoint.
    """
    if nproc_per_node < 1 or nnodes < 1:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"nproc_per_node={nproc_per_node} and nnodes={nnodes} must both be >= 1",
        )
    base = [python, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}"]
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


def _checkpoint_step(folder: Path) -> int:
    root = folder / CHECKPOINT_DIR
    name = latest_name(str(root))
    if name is None:
        return 0
    return read_meta(str(root / name / STATE_FILE))["position"]["global_step"]


def run_outcome(folder: Path, *, cancelled: bool) -> TrainOutcome:
    """A run's ``TrainOutcome`` read from its folder: its last epoch and last checkpoint."""
    events = read_events(folder / EVENTS_FILE)
    epochs = [event for event in events if is_epoch(event)]
    last = epochs[-1] if epochs else None
    fallback: LossUnit = "token"
    configured = next(
        (e.get("loss_unit", fallback) for e in reversed(events) if is_config(e)), fallback
    )
    loss = math.nan if last is None else last["train_loss"]
    return {
        "loss": loss,
        "perplexity": perplexity(loss),
        "val_loss": None if last is None else last["val_loss"],
        "val_perplexity": None if last is None else last["val_perplexity"],
        "loss_unit": configured if last is None else last["loss_unit"],
        "steps": _checkpoint_step(folder),
        "epochs_completed": 0 if last is None else last["epoch"],
        "tokens_per_second": 0.0 if last is None else last["tokens_per_second"],
        "out_dir": str(folder),
        "cancelled": cancelled,
    }


class DistributedJob(Viewable):
    """A run trained by a torchrun program, followed through its run folder.

    ``events`` are those rank 0 appends to ``events.jsonl`` (each also goes to the job's
    sinks as it is read); ``cancel`` sends SIGTERM to torchrun, which passes it to every
    rank, and the run stops at its next step with a checkpoint. ``command`` is the torchrun
    command line (on several nodes, run it on each of the others too).
    """

    def __init__(
        self,
        *,
        process: subprocess.Popen[bytes],
        run_id: str,
        folder: Path,
        command: list[str],
        log_path: Path,
        sinks: Sequence[EventSink],
        offset: int,
        poll_s: float,
        before: JobRecord | None = None,
    ) -> None:
        self.run_id = run_id
        self.job_id = run_id
        self.run_dir = str(folder)
        self.command = command
        self.log_path = log_path
        self._process = process
        self._folder = folder
        self._sinks = tuple(sinks)
        self._tail = EventTail(folder / EVENTS_FILE, offset=offset)
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._record: JobRecord | None = None
        self._before = before
        self._cancel_requested = False
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._follow, name=f"model-trainer-torchrun-{run_id}", daemon=True
        )
        self._thread.start()

    @property
    def events(self) -> list[Event]:
        """The run's events read so far, in order (a copy)."""
        with self._lock:
            return list(self._events)

    @property
    def state(self) -> JobState:
        """``running`` while torchrun runs; then the run's recorded end."""
        with self._lock:
            record = self._record
        if not self._done.is_set():
            return "running"
        return "failed" if record is None else record["state"]

    @property
    def pid(self) -> int:
        """The process id of torchrun (its ranks are its child processes)."""
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status of torchrun, or None while it runs."""
        return self._process.poll()

    def cancel(self) -> None:
        """Stop the run: SIGTERM to torchrun (nothing once it has ended)."""
        self._cancel_requested = True
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def cancel_requested(self) -> bool:
        """Whether ``cancel`` was called."""
        return self._cancel_requested

    def done(self) -> bool:
        """Whether torchrun has ended and its events are all read."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done or ``timeout`` seconds pass; True when it is done."""
        return self._done.wait(timeout)

    def result(self) -> TrainOutcome:
        """Wait for the job, then return the run's outcome (``cancelled`` after a stop).

        Raises:
            ModelTrainerError: the run's recorded error when it failed; ``INTERNAL_ERROR``
                with the end of torchrun's log when rank 0 never started its job.
        """
        self._done.wait()
        with self._lock:
            record = self._record
        if record is None:
            raise ModelTrainerError(
                "INTERNAL_ERROR",
                f"torchrun exited with status {self._process.returncode} before run "
                f"{self.run_id!r} started; the end of {self.log_path}:\n{self._log_tail()}",
            )
        if record["state"] == "failed":
            raise ModelTrainerError(
                record["error_code"] or "INTERNAL_ERROR",
                record["error_message"] or f"run {self.run_id!r} failed",
            )
        return run_outcome(self._folder, cancelled=record["state"] == "cancelled")

    def _log_tail(self) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-LOG_TAIL_CHARS:]

    def _deliver(self, events: list[Event]) -> None:
        with self._lock:
            self._events.extend(events)
        for event in events:
            for sink in self._sinks:
                sink.emit(event)

    def _follow(self) -> None:
        try:
            while self._process.poll() is None:
                self._deliver(self._tail.read())
                time.sleep(self._poll_s)
            self._deliver(self._tail.read())
            self._settle()
        finally:
            self._done.set()

    def _settle(self) -> None:
        """Read the run's end; record one when rank 0 died without doing so."""
        if not (self._folder / JOB_FILE).is_file():
            return
        record = read_job(self._folder)
        if record == self._before:
            return
        if record["state"] in ACTIVE_STATES:
            record = self._record_lost_end(record)
        with self._lock:
            self._record = record

    def _record_lost_end(self, record: JobRecord) -> JobRecord:
        """Mark the run ended in ``job.json`` and its events: cancelled after a Stop, or failed."""
        stopped = self._cancel_requested
        code: ModelTrainerErrorCode = "TRAINING_CANCELLED" if stopped else "INTERNAL_ERROR"
        message = (
            f"torchrun exited with status {self._process.returncode} while run "
            f"{self.run_id!r} was {record['state']}: rank 0 ended without recording an end "
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
        write_job(self._folder, ended)
        failed = make_failed_event(
            job_id=record["job_id"],
            user_id=0,
            error_kind="user" if user_error(code) else "system",
            code=code,
            message=message,
        )
        with JsonlFileSink(self._folder / EVENTS_FILE) as sink:
            sink.emit(failed)
        self._deliver([failed])
        return ended


def _launch(
    program: list[str],
    *,
    run_id: str,
    nproc_per_node: int,
    settings: Settings,
    sinks: Sequence[EventSink],
    nnodes: int,
    rdzv_endpoint: str | None,
    env: Mapping[str, str] | None,
    poll_s: float,
) -> DistributedJob:
    folder = run_dir(settings, run_id)
    command = [
        *torchrun_command(
            nproc_per_node=nproc_per_node,
            nnodes=nnodes,
            rdzv_endpoint=rdzv_endpoint,
            rdzv_id=run_id,
        ),
        "-m",
        "model_trainer",
        *program,
        "--runs-dir",
        os.path.abspath(settings["runs_dir"]),
        "--json",
    ]
    launch = Path(settings["runs_dir"]) / LAUNCH_DIR / run_id
    log_path = launch / LOG_FILE
    before = read_job(folder) if (folder / JOB_FILE).is_file() else None
    base = os.environ if env is None else env
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env={**base, **settings_env(settings), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return DistributedJob(
        process=process,
        run_id=run_id,
        folder=folder,
        command=command,
        log_path=log_path,
        sinks=sinks,
        offset=cut_torn_line(folder / EVENTS_FILE),
        poll_s=poll_s,
        before=before,
    )


def launch_distributed(
    config: ModelTrainConfig,
    nproc_per_node: int,
    settings: Settings,
    *,
    run_id: str | None = None,
    sinks: Sequence[EventSink] = (),
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    registry: ModelRegistry = default_registry,
    poll_s: float = POLL_S,
) -> DistributedJob:
    """Train a new run of ``config`` on ``nproc_per_node`` torchrun processes; returns at once.

    torchrun runs as its own program (``model-trainer train --config ...`` on each rank)
    with ``env`` (default: this process's) and ``settings`` in its environment; the job
    follows the run's events into ``sinks``. On several nodes (``nnodes``,
    ``rdzv_endpoint``) run ``job.command`` on each other node as well.

    Raises:
        ModelTrainerError: the config's errors, ``INVALID_CONFIG`` for a bad or taken run
            id or bad process counts; later failures are the job's (``result()``).
    """
    validate_model_train_config(
        config, registry.require(config["model_family"], "supports_distributed")
    )
    run_id = (
        new_run_id(config["model_family"], config["model_size"])
        if run_id is None
        else validate_run_id(run_id)
    )
    torchrun_command(
        nproc_per_node=nproc_per_node, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint, rdzv_id=run_id
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
        nproc_per_node=nproc_per_node,
        settings=settings,
        sinks=sinks,
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        env=env,
        poll_s=poll_s,
    )


def resume_distributed(
    run_id: str,
    nproc_per_node: int,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    poll_s: float = POLL_S,
) -> DistributedJob:
    """Continue run ``run_id`` from its last checkpoint on torchrun processes; returns at once.

    The job's events are the ones appended from now on. ``nproc_per_node * nnodes`` must be
    the world size the run started with; rank 0 checks the rest as ``resume_train`` does.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for an unknown run, ``INVALID_CONFIG`` for
            bad process counts, ``MODEL_INCOMPATIBLE`` for another world size.
    """
    folder = existing_run_dir(settings, run_id)
    torchrun_command(
        nproc_per_node=nproc_per_node, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint, rdzv_id=run_id
    )
    world_size = read_manifest(str(folder))["world_size"]
    if world_size != nproc_per_node * nnodes:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"run_id {run_id!r} was trained by world_size={world_size} processes; resume it "
            f"on as many, not nproc_per_node={nproc_per_node} x nnodes={nnodes}",
        )
    (Path(settings["runs_dir"]) / LAUNCH_DIR / run_id).mkdir(parents=True, exist_ok=True)
    return _launch(
        ["resume", run_id],
        run_id=run_id,
        nproc_per_node=nproc_per_node,
        settings=settings,
        sinks=sinks,
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        env=env,
        poll_s=poll_s,
    )

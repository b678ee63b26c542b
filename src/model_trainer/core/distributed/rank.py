"""One rank of a run trained by torchrun: every process runs this with the same config.

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
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import torch

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, TrainingCallbacks, TrainOutcome
from model_trainer.core.contracts.validators import validate_model_train_config
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.run_store import TOKENIZER_FILE, existing_run_dir, new_run_id, run_dir
from model_trainer.core.jobs.runner import JobControl, JobHandle
from model_trainer.core.jobs.signals import stop_on_signals
from model_trainer.core.jobs.train_job import (
    resumable_source,
    resume_train,
    start_train,
)
from model_trainer.core.tokenizers.io import load_tokenizer
from model_trainer.core.training.dataset import load_data
from model_trainer.core.training.device import available_device
from model_trainer.core.training.distributed import (
    Collective,
    check_rank_device,
    process_group,
    timeout_from_env,
    world_from_env,
)
from model_trainer.core.training.manifest import read_manifest

EXIT_OK: Final = 0
EXIT_CANCELLED: Final = 130
POLL_S: Final = 0.1

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
        callbacks: TrainingCallbacks = {
            "heartbeat": _ignore,
            "cancelled": control.cancelled,
            "progress": None,
            "run": {
                "run_dir": str(self.folder),
                "resume": self.resume,
                "data": load_data(self.cfg, self.settings, prepared["tokenizer"]),
                "settings": self.settings,
            },
        }
        return backend.train(self.cfg, prepared=prepared, callbacks=callbacks)


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
            checked=True,
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
    capabilities = registry.require(cfg["model_family"], "supports_distributed")
    if not resume:  # a resumed run's stored config is checked once, by rank 0's resume_train
        validate_model_train_config(cfg, capabilities)
    check_rank_device(cfg["device"])
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
        with stop_on_signals(lambda _signum: handle.cancel()):
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

    Every rank checks first that the corpus and tokenizer are the ones the run started
    with, so changed data stops them all before the group forms.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run), ``MODEL_INCOMPATIBLE``
            (changed data), ``resume_train``'s errors on rank 0, and those of
            ``distributed_train``.
    """
    folder = existing_run_dir(settings, run_id)
    manifest = read_manifest(str(folder))
    resumable_source(folder, manifest, settings)
    cfg = manifest["config"]
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

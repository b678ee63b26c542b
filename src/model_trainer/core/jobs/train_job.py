"""The train job: a run folder, its record and lock, and the work started on a thread.

``start_train`` checks the config and the corpus (a bad one leaves no run folder),
makes the run folder with its ``manifest.json`` (the corpus's fingerprint in it) and
``job.json``, takes the run's writer lock (``run_lock.py``) and returns a ``JobHandle`` at
once; the work (``train_work.py``) then runs on a daemon thread and the lock is let go after
the job's last event. ``resume_train`` continues a cancelled, failed or killed run from its
last checkpoint under the same run id, appending to its events, when no other process writes
it and its corpus and tokenizer are unchanged.

A cancelled run's ``result()`` is its ``TrainOutcome`` with ``cancelled`` True; the
``TRAINING_CANCELLED`` code is in its failed event and in ``job.json``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.backends.start import resolve_start
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import DeviceName, TrainOutcome
from model_trainer.core.contracts.schema import complete_train_config
from model_trainer.core.contracts.validators import validate_model_train_config
from model_trainer.core.data.prepare import RunSource
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.faults import writing
from model_trainer.core.jobs.job_store import JobRecord, new_job_record
from model_trainer.core.jobs.run_lock import RunLock, hold_run_lock
from model_trainer.core.jobs.run_store import (
    TOKENIZER_FILE,
    existing_run_dir,
    new_run_id,
    refresh_job,
    run_dir,
    validate_run_id,
)
from model_trainer.core.jobs.runner import JobHandle, ViewFactory
from model_trainer.core.jobs.train_work import checkpoint_step, start_work
from model_trainer.core.training.device import available_device, resolve_precision
from model_trainer.core.training.manifest import (
    Manifest,
    build_manifest,
    check_same_data,
    file_fingerprint,
    read_manifest,
    write_manifest,
)


def resumable_source(folder: Path, manifest: Manifest, settings: Settings) -> RunSource:
    """The corpus of the run in ``folder``, when it and its tokenizer are unchanged.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` naming what changed since the run started
            (``check_same_data``); the corpus's errors.
    """
    source = RunSource(manifest["config"], settings)
    check_same_data(
        manifest,
        corpus=source.fingerprint,
        tokenizer=file_fingerprint(folder / TOKENIZER_FILE),
        where=f"run_id {manifest['run_id']!r}",
    )
    return source


def start_train(
    cfg: Mapping[str, object],
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
    run_id: str | None = None,
    registry: ModelRegistry = default_registry,
    world_size: int = 1,
    checked: bool = False,
) -> JobHandle[TrainOutcome]:
    """Start training a new run of ``cfg``; returns at once with the job's handle.

    ``cfg`` holds at least the spec's fields (``SPEC_TRAIN_FIELDS``); the rest take the
    schema's defaults (``complete_train_config``). ``checked``: ``cfg`` was validated where
    it came in (a torchrun rank's), so it is not validated again.

    Its events go to ``sinks`` and to the view ``view`` makes (the handle's ``view``).
    ``world_size`` is the number of processes training the run together (torchrun), as
    its manifest records it.

    The corpus is opened and its split planned here (cached under the runs folder) before
    the run folder is made: a bad corpus leaves nothing behind.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (an unregistered family),
            ``INVALID_MODEL_SIZE``, ``INVALID_CONFIG`` (a bad field, a bad or taken run id),
            ``CUDA_NOT_AVAILABLE``, the corpus's errors (``CORPUS_NOT_FOUND``,
            ``CORPUS_EMPTY``, ``CORPUS_TOO_LARGE``, ``INVALID_CONFIG``). Failures later on
            are the job's: its ``result()`` raises them.
    """
    whole = resolve_start(complete_train_config(cfg), registry)
    if not checked:
        validate_model_train_config(
            whole, registry.require(whole["model_family"], "supports_train")
        )
    run_id = (
        new_run_id(whole["model_family"], whole["model_size"])
        if run_id is None
        else validate_run_id(run_id)
    )
    folder = run_dir(settings, run_id)
    if folder.exists():
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"run_id {run_id!r} already exists in {settings['runs_dir']!r}; "
            f"pick another run_id or resume it",
        )
    device = available_device(whole["device"])
    source = RunSource(whole, settings)
    source.parts()
    with writing(folder):
        folder.mkdir(parents=True)
    with ExitStack() as stack:
        lock = stack.enter_context(hold_run_lock(folder, run_id))
        manifest = build_manifest(
            run_id=run_id,
            config=whole,
            device=device,
            precision=resolve_precision(whole["precision"], device),
            world_size=world_size,
        )
        write_manifest(str(folder), {**manifest, "corpus_fingerprint": source.fingerprint})
        record = new_job_record(run_id=run_id, job_id=run_id, kind="train", now=time.time())
        handle = start_work(
            cfg=whole,
            settings=settings,
            folder=folder,
            run_id=run_id,
            record=record,
            resume=False,
            sinks=sinks,
            view=view,
            registry=registry,
            source=source,
            lock=lock,
            world_size=world_size,
        )
        stack.pop_all()
    return handle


def resume_train(
    run_id: str,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
    registry: ModelRegistry = default_registry,
    world_size: int = 1,
    device: DeviceName | None = None,
) -> JobHandle[TrainOutcome]:
    """Continue a cancelled, failed or killed run from its last checkpoint, same run id.

    Its events go to ``sinks`` and to the view ``view`` makes (the handle's ``view``).
    ``device`` (default: the run's own) is the device it continues on, e.g. another GPU
    than the one it started on (a sweep's trial resumed in a free slot); the manifest keeps
    the device the run started on, and each start's config event names the one it ran on.

    The config is read from the run's ``manifest.json``; events are appended to its
    ``events.jsonl``, so its history and curves continue where they stopped. ``world_size``
    must be the one the run started with. The run's writer lock is taken first: a run whose
    process still lives (even paused) is refused, one marked active whose process is gone is
    marked ``failed`` and resumed. The corpus must be the one the run
    started on, and ``tokenizer.json`` the one it trained (when the manifest has their
    fingerprints; an older manifest does not, and resumes without the check).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run, or no checkpoint to resume
            from), ``INVALID_CONFIG`` (a completed run, one another process writes, a bad
            ``device``), ``CUDA_NOT_AVAILABLE`` (a device this machine lacks),
            ``MODEL_INCOMPATIBLE`` (another world size, a changed corpus or tokenizer), the
            corpus's errors.
    """
    folder = existing_run_dir(settings, run_id)
    with ExitStack() as stack:
        lock = stack.enter_context(hold_run_lock(folder, run_id))
        handle = _resume(
            run_id,
            settings,
            folder=folder,
            lock=lock,
            sinks=sinks,
            view=view,
            registry=registry,
            world_size=world_size,
            device=device,
        )
        stack.pop_all()
    return handle


def _resume(
    run_id: str,
    settings: Settings,
    *,
    folder: Path,
    lock: RunLock,
    sinks: Sequence[EventSink],
    view: ViewFactory | None,
    registry: ModelRegistry,
    world_size: int,
    device: DeviceName | None,
) -> JobHandle[TrainOutcome]:
    record = refresh_job(folder, settings, lock_held=True)
    if record["state"] == "completed":
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"run_id {run_id!r} is completed; there is nothing to resume (start a new run)",
        )
    manifest = read_manifest(str(folder))
    validate_model_train_config(
        manifest["config"], registry.require(manifest["config"]["model_family"], "supports_train")
    )
    if manifest["world_size"] != world_size:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"run_id {run_id!r} was trained by world_size={manifest['world_size']} "
            f"processes; it resumes only with that many, not world_size={world_size}",
        )
    if checkpoint_step(folder) is None:
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"run_id {run_id!r} has no checkpoint to resume from (it stopped before its "
            f"first one); start a new run",
        )
    cfg = manifest["config"]
    if device is not None:
        cfg = {**cfg, "device": device}
    available_device(cfg["device"])
    source = resumable_source(folder, manifest, settings)
    resumed: JobRecord = {
        **record,
        "state": "queued",
        "pid": os.getpid(),
        "heartbeat_at": time.time(),
        "error_code": None,
        "error_message": None,
    }
    return start_work(
        cfg=cfg,
        settings=settings,
        folder=folder,
        run_id=run_id,
        record=resumed,
        resume=True,
        sinks=sinks,
        view=view,
        registry=registry,
        source=source,
        lock=lock,
        world_size=world_size,
    )

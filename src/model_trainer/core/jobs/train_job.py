"""The train job: a run folder, a tokenizer, a model, training on a thread, the run's record.

``start_train`` checks the config and the corpus (a bad one leaves no run folder),
makes the run folder with its ``manifest.json`` (the corpus's fingerprint in it) and
``job.json``, takes the run's writer lock (``run_lock.py``) and returns a ``JobHandle`` at
once; the work then runs on a daemon thread: train the tokenizer on the corpus's training
split (``tokenizer.json``, its fingerprint added to the manifest), ``prepare`` the model,
train it (checkpoints in ``checkpoint/``), save it to ``model/``, and draw ``curves.png`` and
``report.html``; the lock is let go after the job's last event. ``resume_train`` continues a
cancelled, failed or killed run from its last checkpoint under the same run id, appending to
its events, when no other process writes it and its corpus and tokenizer are unchanged.

A cancelled run's ``result()`` is its ``TrainOutcome`` with ``cancelled`` True; the
``TRAINING_CANCELLED`` code is in its failed event and in ``job.json``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Final

import torch

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.resources import measure_resources
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    CharScore,
    DeviceName,
    EpochMetrics,
    LossUnit,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
    TrainingCallbacks,
    TrainOutcome,
)
from model_trainer.core.contracts.schema import generate_overlay, score_overlay
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.contracts.validators import (
    resolve_init_from,
    validate_model_train_config,
)
from model_trainer.core.data.prepare import (
    RunSource,
    Stage,
    prepare_run_data,
    stage_events,
    start_tokenizer,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.job_events import make_progress_event
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.events.trainer_metrics_events import (
    make_completed_metrics_event,
    make_config_event,
)
from model_trainer.core.faults import writing
from model_trainer.core.jobs.evolution import (
    PROMPT_CHARS,
    Evolution,
    evolution_by_epoch,
    last_sample_step,
)
from model_trainer.core.jobs.job_store import JobRecord, JobRecorder, new_job_record
from model_trainer.core.jobs.metrics_reporter import MetricsReporter
from model_trainer.core.jobs.report import draw_curves, render_report, report_metrics, run_history
from model_trainer.core.jobs.run_lock import RunLock, hold_run_lock
from model_trainer.core.jobs.run_store import (
    CURVES_FILE,
    EVENTS_FILE,
    MODEL_DIR,
    REPORT_FILE,
    TOKENIZER_FILE,
    existing_run_dir,
    new_run_id,
    refresh_job,
    run_dir,
    validate_run_id,
)
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory
from model_trainer.core.tokenizers.io import load_tokenizer
from model_trainer.core.training.checkpoint import (
    CHECKPOINT_DIR,
    STATE_FILE,
    latest_name,
    read_meta,
)
from model_trainer.core.training.dataset import plan_training
from model_trainer.core.training.device import available_device, resolve_precision
from model_trainer.core.training.loss import loss_unit_of
from model_trainer.core.training.manifest import (
    Manifest,
    build_manifest,
    check_same_data,
    ended,
    file_fingerprint,
    read_manifest,
    write_manifest,
)

SNIPPET_CHARS: Final = 400
SAMPLE_TOKENS: Final[dict[LossUnit, int]] = {"char": 200, "token": 60}


def checkpoint_step(folder: Path) -> int | None:
    """The global step of the run's last checkpoint, or None when it has none."""
    root = folder / CHECKPOINT_DIR
    name = latest_name(str(root))
    if name is None:
        return None
    return read_meta(str(root / name / STATE_FILE))["position"]["global_step"]


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


class _TrainWork:
    """The body of one train job, run on the job's thread."""

    def __init__(
        self,
        *,
        cfg: ModelTrainConfig,
        settings: Settings,
        folder: Path,
        run_id: str,
        resume: bool,
        recorder: JobRecorder,
        registry: ModelRegistry,
        source: RunSource,
        world_size: int = 1,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.world_size = world_size
        self.settings = settings
        self.folder = folder
        self.run_id = run_id
        self.resume = resume
        self.recorder = recorder
        self.registry = registry
        self.loss_unit: LossUnit = "token"

    def __call__(self, control: JobControl) -> TrainOutcome:
        cfg = self.cfg
        if self.settings["num_threads"] > 0:
            torch.set_num_threads(self.settings["num_threads"])
        # The corpus is split, and each part encoded, once per source and tokenizer (cached).
        source = self.source
        stage = stage_events(control.emit, job_id=control.job_id, user_id=control.user_id)
        tokenizer = self._tokenizer(source, stage)
        self.recorder.heartbeat(time.time())
        backend = self.registry.get(cfg["model_family"])
        prepared = backend.prepare(cfg, self.settings, tokenizer=tokenizer)
        control.set_prepared(prepared)
        run_data = prepare_run_data(source, prepared["tokenizer"], stage)
        data = run_data["data"]
        chars_per_token = run_data["chars_per_token"]
        snippet = run_data["snippet"][:SNIPPET_CHARS]
        plan = plan_training(data["train_ids"].numel(), cfg, self.world_size)
        self.loss_unit = loss_unit_of(tokenizer)
        control.emit(
            make_config_event(
                job_id=control.job_id,
                user_id=control.user_id,
                model_family=cfg["model_family"],
                model_size=cfg["model_size"],
                total_epochs=cfg["num_epochs"],
                batch_size=cfg["batch_size"],
                steps_per_epoch=plan["updates_per_epoch"],
                max_seq_len=cfg["max_seq_len"],
                vocab_size=tokenizer.vocab_size,
                learning_rate=cfg["learning_rate"],
                chars_per_token=chars_per_token,
                device=prepared["device"],
                precision=resolve_precision(cfg["precision"], prepared["device"]),
                tokenizer_kind=tokenizer.kind,
                loss_unit=self.loss_unit,
                **measure_resources(),
            )
        )
        reporter = MetricsReporter(
            control.emit,
            job_id=control.job_id,
            user_id=control.user_id,
            num_epochs=cfg["num_epochs"],
            updates_per_epoch=plan["updates_per_epoch"],
            loss_unit=self.loss_unit,
        )
        evolution = self._evolution(control, backend, prepared, snippet)
        callbacks: TrainingCallbacks = {
            "heartbeat": self.recorder.heartbeat,
            "cancelled": control.cancelled,
            "progress": None,
            "reading": reporter.reading,
            "epoch_end": lambda metrics: self._epoch_end(control, reporter, evolution, metrics),
            "evaluated": reporter.evaluated,
            "evaluating": stage,
            "run": {
                "run_dir": str(self.folder),
                "resume": self.resume,
                "data": data,
                "settings": self.settings,
            },
        }
        if evolution is not None:
            callbacks["updated"] = evolution.updated
        outcome = backend.train(cfg, prepared=prepared, callbacks=callbacks)
        if outcome["cancelled"]:
            return outcome
        with writing(self.folder / MODEL_DIR, RuntimeError):
            artifact = backend.save(prepared, str(self.folder / MODEL_DIR))
        self.recorder.heartbeat(time.time())
        self._write_report(backend, prepared, outcome, snippet, chars_per_token)
        write_manifest(str(self.folder), ended(read_manifest(str(self.folder))))
        control.emit(
            make_completed_metrics_event(
                job_id=control.job_id,
                user_id=control.user_id,
                loss=outcome["loss"],
                perplexity=outcome["perplexity"],
                artifact_path=artifact["path"],
                val_loss=outcome["val_loss"],
                val_perplexity=outcome["val_perplexity"],
                stop_reason=outcome["stop_reason"],
            )
        )
        return outcome

    def _tokenizer(self, source: RunSource, stage: Stage) -> TokenizerHandle:
        path = str(self.folder / TOKENIZER_FILE)
        if self.resume and not self.cfg["init_from"]:
            return load_tokenizer(path)
        tokenizer = start_tokenizer(self.cfg, source, stage)
        if self.cfg["init_from"]:  # the pretrained model's own, read from its folder
            return tokenizer
        tokenizer.save(path)
        manifest = read_manifest(str(self.folder))
        write_manifest(
            str(self.folder), {**manifest, "tokenizer_fingerprint": file_fingerprint(Path(path))}
        )
        return tokenizer

    def _evolution(
        self,
        control: JobControl,
        backend: ModelBackend,
        prepared: PreparedLMModel,
        held_out: str,
    ) -> Evolution | None:
        """Samples and the probe while training (``watch_learning``), after those recorded."""
        if not self.cfg["watch_learning"]:
            return None
        events = read_events(self.folder / EVENTS_FILE) if self.resume else []
        return Evolution(
            control.emit,
            job_id=control.job_id,
            user_id=control.user_id,
            cfg=self.cfg,
            backend=backend,
            prepared=prepared,
            settings=self.settings,
            held_out=held_out,
            loss_unit=self.loss_unit,
            after_step=last_sample_step(events),
        )

    def _epoch_end(
        self,
        control: JobControl,
        reporter: MetricsReporter,
        evolution: Evolution | None,
        metrics: EpochMetrics,
    ) -> None:
        self.recorder.epoch_done(metrics["epoch"], metrics["val_loss"])
        reporter.epoch_end(metrics)
        if evolution is not None:
            evolution.epoch_end(metrics)
        control.emit(
            make_progress_event(
                job_id=control.job_id,
                user_id=control.user_id,
                progress=min(100, metrics["epoch"] * 100 // self.cfg["num_epochs"]),
                message=f"epoch {metrics['epoch']}/{self.cfg['num_epochs']}",
            )
        )

    def _write_report(
        self,
        backend: ModelBackend,
        prepared: PreparedLMModel,
        outcome: TrainOutcome,
        snippet: str,
        chars_per_token: float,
    ) -> None:
        prompt = snippet[:PROMPT_CHARS]
        capabilities = backend.capabilities()
        scores: Sequence[CharScore] = []
        if capabilities["supports_score"]:
            scored = backend.score(
                prepared=prepared,
                cfg=score_overlay({"text": snippet, "detail_level": "per_char"}),
                settings=self.settings,
            )
            scores = scored.get("per_char", [])
        sample = f"({self.cfg['model_family']} does not sample)"
        if capabilities["supports_generate"]:
            generated = backend.generate(
                prepared=prepared,
                cfg=generate_overlay(
                    {
                        "prompt_text": prompt,
                        "max_new_tokens": SAMPLE_TOKENS[self.loss_unit],
                        "seed": self.cfg["seed"],
                    }
                ),
                settings=self.settings,
            )
            sample = generated["outputs"][0]
        events = read_events(self.folder / EVENTS_FILE)
        png = draw_curves(run_history(events))
        with writing(self.folder / CURVES_FILE):
            (self.folder / CURVES_FILE).write_bytes(png)
        page = render_report(
            run_id=self.run_id,
            curves_png=png,
            metrics=report_metrics(self.cfg, prepared, outcome, chars_per_token),
            prompt=prompt,
            sample=sample,
            scores=scores,
            evolution=evolution_by_epoch(events),
        )
        with writing(self.folder / REPORT_FILE):
            (self.folder / REPORT_FILE).write_text(page, encoding="utf-8")


def _start(
    *,
    cfg: ModelTrainConfig,
    settings: Settings,
    folder: Path,
    run_id: str,
    record: JobRecord,
    resume: bool,
    sinks: Sequence[EventSink],
    view: ViewFactory | None,
    registry: ModelRegistry,
    source: RunSource,
    lock: RunLock,
    world_size: int = 1,
) -> JobHandle[TrainOutcome]:
    recorder = JobRecorder(folder, record)
    recorder.write()
    total = cfg["num_epochs"]

    def cancel_message(outcome: TrainOutcome) -> str | None:
        if not outcome["cancelled"]:
            return None
        done = (
            f"training of run {run_id!r} was cancelled after {outcome['epochs_completed']} of "
            f"{total} epochs (step {outcome['steps']})"
        )
        if checkpoint_step(folder) is None:
            return f"{done}, before its first checkpoint: there is nothing to resume; start anew"
        return f"{done}; resume({run_id!r}) continues it"

    handle: JobHandle[TrainOutcome] = JobHandle(
        kind="train",
        job_id=run_id,
        run_id=run_id,
        run_dir=str(folder),
        work=_TrainWork(
            cfg=cfg,
            settings=settings,
            folder=folder,
            run_id=run_id,
            resume=resume,
            recorder=recorder,
            registry=registry,
            source=source,
            world_size=world_size,
        ),
        sinks=sinks,
        view=view,
        events_path=str(folder / EVENTS_FILE),
        cancel_message=cancel_message,
        result_id=lambda _: str(folder / MODEL_DIR),
        on_state=recorder.set_state,
        on_end=lock.release,
    )
    return handle.start()


def start_train(
    cfg: ModelTrainConfig,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
    run_id: str | None = None,
    registry: ModelRegistry = default_registry,
    world_size: int = 1,
) -> JobHandle[TrainOutcome]:
    """Start training a new run of ``cfg``; returns at once with the job's handle.

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
    cfg = resolve_init_from(cfg)
    validate_model_train_config(cfg, registry.require(cfg["model_family"], "supports_train"))
    return start_checked_train(
        cfg,
        settings,
        sinks=sinks,
        view=view,
        run_id=run_id,
        registry=registry,
        world_size=world_size,
    )


def start_checked_train(
    cfg: ModelTrainConfig,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
    run_id: str | None = None,
    registry: ModelRegistry = default_registry,
    world_size: int = 1,
) -> JobHandle[TrainOutcome]:
    """``start_train`` of a config already validated where it came in (a torchrun rank).

    Raises:
        ModelTrainerError: ``start_train``'s errors, but for the config's own.
    """
    run_id = (
        new_run_id(cfg["model_family"], cfg["model_size"])
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
    device = available_device(cfg["device"])
    source = RunSource(cfg, settings)
    source.parts()
    with writing(folder):
        folder.mkdir(parents=True)
    with ExitStack() as stack:
        lock = stack.enter_context(hold_run_lock(folder, run_id))
        manifest = build_manifest(
            run_id=run_id,
            config=cfg,
            device=device,
            precision=resolve_precision(cfg["precision"], device),
            world_size=world_size,
        )
        write_manifest(str(folder), {**manifest, "corpus_fingerprint": source.fingerprint})
        record = new_job_record(run_id=run_id, job_id=run_id, kind="train", now=time.time())
        handle = _start(
            cfg=cfg,
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
    return _start(
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

"""The body of a train job and its handle: the work that runs on the job's thread.

``TrainWork`` trains the tokenizer on the corpus's training split (``tokenizer.json``, its
fingerprint added to the manifest), ``prepare``s the model, trains it (checkpoints in
``checkpoint/``), saves it to ``model/``, runs the step after training
(``after_training.py``) and marks the manifest ended. ``start_work`` wraps it in a started
``JobHandle`` whose end lets the run's writer lock go.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.resources import measure_resources
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    EpochMetrics,
    LossUnit,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
    TrainingCallbacks,
    TrainOutcome,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.prepare import (
    RunSource,
    Stage,
    prepare_run_data,
    stage_events,
    start_tokenizer,
)
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.job_events import make_progress_event
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.events.trainer_metrics_events import (
    make_completed_metrics_event,
    make_config_event,
)
from model_trainer.core.faults import writing
from model_trainer.core.jobs.after_training import SNIPPET_CHARS, write_after_training
from model_trainer.core.jobs.evolution import Evolution, last_sample_step
from model_trainer.core.jobs.job_store import JobRecord, JobRecorder
from model_trainer.core.jobs.metrics_reporter import MetricsReporter
from model_trainer.core.jobs.run_lock import RunLock
from model_trainer.core.jobs.run_store import EVENTS_FILE, MODEL_DIR, TOKENIZER_FILE
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory
from model_trainer.core.tokenizers.io import load_tokenizer
from model_trainer.core.training.checkpoint import (
    CHECKPOINT_DIR,
    STATE_FILE,
    latest_name,
    read_meta,
)
from model_trainer.core.training.dataset import plan_training
from model_trainer.core.training.device import resolve_precision
from model_trainer.core.training.loss import loss_unit_of
from model_trainer.core.training.manifest import (
    ended,
    file_fingerprint,
    read_manifest,
    write_manifest,
)


def checkpoint_step(folder: Path) -> int | None:
    """The global step of the run's last checkpoint, or None when it has none."""
    root = folder / CHECKPOINT_DIR
    name = latest_name(str(root))
    if name is None:
        return None
    return read_meta(str(root / name / STATE_FILE))["position"]["global_step"]


class TrainWork:
    """The body of one train job, run on the job's thread (called with its ``JobControl``)."""

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
        """Train the run to its end; a cancelled run returns at once, its outcome says so."""
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
        evolution = self._evolution(control, backend, prepared, run_data["snippet"][:SNIPPET_CHARS])
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
        write_after_training(
            {
                "run_id": self.run_id,
                "folder": self.folder,
                "cfg": cfg,
                "settings": self.settings,
                "backend": backend,
                "prepared": prepared,
                "outcome": outcome,
                "snippet": run_data["snippet"],
                "chars_per_token": chars_per_token,
            },
            control.emit,
            job_id=control.job_id,
            user_id=control.user_id,
        )
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


def start_work(
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
    """Start ``TrainWork`` on its thread for the run in ``folder``; ``lock`` goes at its end."""
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
        work=TrainWork(
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

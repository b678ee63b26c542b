"""The generate job: continuations sampled from a run's saved model, on a background thread."""

from __future__ import annotations

from collections.abc import Sequence

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import GenerateConfig, GenerateOutcome
from model_trainer.core.contracts.validators import validate_generate_config
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.run_store import EVENTS_FILE, MODEL_DIR, require_model
from model_trainer.core.jobs.runner import JobControl, JobHandle, new_job_id
from model_trainer.core.training.manifest import read_manifest


def start_generate(
    run_id: str,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
) -> JobHandle[GenerateOutcome]:
    """Start sampling from a completed run's model as ``cfg`` says; returns at once.

    The loaded model is ``handle.prepared`` once the job has it. Its events also go to the
    run's ``events.jsonl``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad config or run id), ``MODEL_NOT_FOUND``
            (no such run, or a run without a saved model yet).
    """
    validate_generate_config(cfg)
    folder = require_model(settings, run_id)
    family = read_manifest(str(folder))["config"]["model_family"]

    def work(control: JobControl) -> GenerateOutcome:
        backend = registry.get(family)
        prepared = backend.load(str(folder / MODEL_DIR), settings)
        control.set_prepared(prepared)
        return backend.generate(prepared=prepared, cfg=cfg, settings=settings)

    handle: JobHandle[GenerateOutcome] = JobHandle(
        kind="generate",
        job_id=new_job_id("generate", run_id),
        run_id=run_id,
        run_dir=str(folder),
        work=work,
        sinks=sinks,
        events_path=str(folder / EVENTS_FILE),
        result_id=lambda _: run_id,
    )
    return handle.start()

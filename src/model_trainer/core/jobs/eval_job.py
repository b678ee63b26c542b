"""The eval job: a run's saved model on its validation split, on a background thread."""

from __future__ import annotations

from collections.abc import Sequence

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import EvalOutcome
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.run_store import EVENTS_FILE, require_model
from model_trainer.core.jobs.runner import JobControl, JobHandle, new_job_id
from model_trainer.core.training.manifest import read_manifest


def start_eval(
    run_id: str,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
) -> JobHandle[EvalOutcome]:
    """Start evaluating a completed run's model; returns at once with the job's handle.

    Its events also go to the run's ``events.jsonl``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad run id), ``MODEL_NOT_FOUND`` (no such
            run, or a run without a saved model yet).
    """
    folder = require_model(settings, run_id)
    cfg = read_manifest(str(folder))["config"]

    def work(_control: JobControl) -> EvalOutcome:
        backend = registry.get(cfg["model_family"])
        return backend.evaluate(run_dir=str(folder), cfg=cfg, settings=settings)

    handle: JobHandle[EvalOutcome] = JobHandle(
        kind="eval",
        job_id=new_job_id("eval", run_id),
        run_id=run_id,
        run_dir=str(folder),
        work=work,
        sinks=sinks,
        events_path=str(folder / EVENTS_FILE),
        result_id=lambda _: run_id,
    )
    return handle.start()

"""The eval job: a run's saved model on its validation split, on a background thread."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import EvalOutcome, ModelBackend, ModelTrainConfig
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.model_job import start_run_job
from model_trainer.core.jobs.runner import JobControl, JobHandle


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
            run, or a run without a saved model yet), ``MODEL_INCOMPATIBLE`` (a family
            without ``supports_evaluate``).
    """

    def work(
        _control: JobControl, backend: ModelBackend, cfg: ModelTrainConfig, folder: Path
    ) -> EvalOutcome:
        return backend.evaluate(run_dir=str(folder), cfg=cfg, settings=settings)

    return start_run_job("eval", run_id, settings, work, sinks=sinks, registry=registry)

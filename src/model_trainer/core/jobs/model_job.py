"""A job that loads a completed run's saved model and uses it: scoring, sampling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelBackend, PreparedLMModel
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.run_store import EVENTS_FILE, MODEL_DIR, require_model
from model_trainer.core.jobs.runner import JobControl, JobHandle, new_job_id
from model_trainer.core.training.manifest import read_manifest

OutcomeT = TypeVar("OutcomeT")
ModelJobKind = Literal["score", "generate"]


def start_model_job(
    kind: ModelJobKind,
    run_id: str,
    settings: Settings,
    use: Callable[[ModelBackend, PreparedLMModel], OutcomeT],
    *,
    sinks: Sequence[EventSink],
    registry: ModelRegistry,
) -> JobHandle[OutcomeT]:
    """Start a ``kind`` job that loads run ``run_id``'s model and returns ``use(backend, it)``.

    The loaded model is ``handle.prepared`` once the job has it. Its events also go to the
    run's ``events.jsonl``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad run id), ``MODEL_NOT_FOUND`` (no such
            run, or a run without a saved model yet).
    """
    folder = require_model(settings, run_id)
    family = read_manifest(str(folder))["config"]["model_family"]

    def work(control: JobControl) -> OutcomeT:
        backend = registry.get(family)
        prepared = backend.load(str(folder / MODEL_DIR), settings)
        control.set_prepared(prepared)
        return use(backend, prepared)

    handle: JobHandle[OutcomeT] = JobHandle(
        kind=kind,
        job_id=new_job_id(kind, run_id),
        run_id=run_id,
        run_dir=str(folder),
        work=work,
        sinks=sinks,
        events_path=str(folder / EVENTS_FILE),
        result_id=lambda _: run_id,
    )
    return handle.start()

"""Jobs on a completed run's saved model: evaluating, scoring, sampling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from model_trainer.core.backends.family import Capability
from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelBackend, ModelTrainConfig, PreparedLMModel
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.inference.finite import require_finite_weights
from model_trainer.core.jobs.run_store import (
    EVENTS_FILE,
    MODEL_DIR,
    require_model,
)
from model_trainer.core.jobs.runner import JobControl, JobHandle, new_job_id
from model_trainer.core.tokenizers.io import read_model_tokenizer
from model_trainer.core.training.checkpoint import CHECKPOINT_DIR, use_weights
from model_trainer.core.training.manifest import read_manifest

OutcomeT = TypeVar("OutcomeT")
ModelJobKind = Literal["eval", "score", "generate"]
CAPABILITY: dict[ModelJobKind, Capability] = {
    "eval": "supports_evaluate",
    "score": "supports_score",
    "generate": "supports_generate",
}
"""What a family must support for each kind of job on its run."""
RunWork = Callable[[JobControl, ModelBackend, ModelTrainConfig, Path], OutcomeT]
"""A job's work on a run: its control, the run's backend, config and folder."""


def load_run_model(
    backend: ModelBackend,
    cfg: ModelTrainConfig,
    folder: Path,
    settings: Settings,
    which: str = "last",
) -> PreparedLMModel:
    """The saved model of the run in ``folder`` (config ``cfg``), read by ``backend``.

    ``which="best"`` loads the weights of the run's best checkpoint into it.

    Raises:
        ModelTrainerError: the errors of ``read_model_tokenizer``, of the family's ``load``
            and of ``use_weights``.
    """
    model_dir = str(folder / MODEL_DIR)
    tokenizer = read_model_tokenizer(model_dir, cfg["tokenizer_kind"])
    prepared = backend.load(model_dir, settings, tokenizer=tokenizer)
    use_weights(prepared["model"], str(folder / CHECKPOINT_DIR), which)
    return prepared


def start_run_job(
    kind: ModelJobKind,
    run_id: str,
    settings: Settings,
    work: RunWork[OutcomeT],
    *,
    sinks: Sequence[EventSink],
    registry: ModelRegistry,
) -> JobHandle[OutcomeT]:
    """Start a ``kind`` job that runs ``work`` on completed run ``run_id``; returns at once.

    Its events also go to the run's ``events.jsonl``. The run's family must support
    ``kind`` (``CAPABILITY``); that is checked before the job starts.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad run id), ``MODEL_NOT_FOUND`` (no such
            run, a run without a saved model yet, or a family ``registry`` does not know),
            ``MODEL_INCOMPATIBLE`` (a family that does not support ``kind``).
    """
    folder = require_model(settings, run_id)
    cfg = read_manifest(str(folder))["config"]
    registry.require(cfg["model_family"], CAPABILITY[kind])
    handle: JobHandle[OutcomeT] = JobHandle(
        kind=kind,
        job_id=new_job_id(kind, run_id),
        run_id=run_id,
        run_dir=str(folder),
        work=lambda control: work(control, registry.get(cfg["model_family"]), cfg, folder),
        sinks=sinks,
        events_path=str(folder / EVENTS_FILE),
        result_id=lambda _: run_id,
    )
    return handle.start()


def start_model_job(
    kind: ModelJobKind,
    run_id: str,
    settings: Settings,
    use: Callable[[JobControl, ModelBackend, PreparedLMModel], OutcomeT],
    *,
    sinks: Sequence[EventSink],
    registry: ModelRegistry,
    which: str = "last",
) -> JobHandle[OutcomeT]:
    """Start a ``kind`` job that loads run ``run_id``'s model and returns ``use(...)`` of it.

    ``use(control, backend, prepared)`` gets the job's control, the run's backend and model.

    ``which="best"`` loads the weights of the run's best checkpoint into its saved model.
    The loaded model is ``handle.prepared`` once the job has it; otherwise as
    ``start_run_job``.
    """

    def work(
        control: JobControl, backend: ModelBackend, cfg: ModelTrainConfig, folder: Path
    ) -> OutcomeT:
        prepared = load_run_model(backend, cfg, folder, settings, which)
        control.set_prepared(prepared)
        require_finite_weights(prepared["model"], f"the model of run {run_id!r} ({which})")
        return use(control, backend, prepared)

    return start_run_job(kind, run_id, settings, work, sinks=sinks, registry=registry)

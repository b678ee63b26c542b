"""The score job: a text scored by a run's saved model, on a background thread."""

from __future__ import annotations

import time
from collections.abc import Sequence

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    ModelBackend,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
)
from model_trainer.core.contracts.validators import validate_score_config
from model_trainer.core.events.job_events import make_progress_event
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.inference.score import scoring_progress
from model_trainer.core.jobs.model_job import start_model_job
from model_trainer.core.jobs.runner import JobControl, JobHandle


class ScoreProgress:
    """Emits a job's ``trainer.job.progress`` events as its text is scored.

    An event when the whole percent scored has grown and ``interval_s`` seconds have passed
    since the last one (or since the start): a short text gives none.
    """

    def __init__(self, control: JobControl, interval_s: float) -> None:
        self._control = control
        self._interval_s = interval_s
        self._percent = 0
        self._last = time.monotonic()

    def __call__(self, scored: int, total: int) -> None:
        """Note ``scored`` of ``total`` tokens done; emit an event when it is due."""
        percent = scored * 100 // max(total, 1)
        now = time.monotonic()
        if percent <= self._percent or now - self._last < self._interval_s:
            return
        self._percent, self._last = percent, now
        self._control.emit(
            make_progress_event(
                job_id=self._control.job_id,
                user_id=self._control.user_id,
                progress=percent,
                message=f"scored {scored:,} of {total:,} tokens",
            )
        )


def start_score(
    run_id: str,
    cfg: ScoreConfig,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
    which: str = "last",
) -> JobHandle[ScoreOutcome]:
    """Start scoring ``cfg``'s text with a completed run's model; returns at once.

    ``which="best"`` uses the run's best checkpoint. The loaded model is ``handle.prepared``
    once the job has it. Its events also go to the run's ``events.jsonl``; a long text's
    progress is in ``trainer.job.progress`` events, at most one every
    ``settings["progress_interval_s"]`` seconds.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad config or run id), ``MODEL_NOT_FOUND``
            (no such run, or a run without a saved model yet), ``MODEL_INCOMPATIBLE`` (a
            family without ``supports_score``).
    """
    validate_score_config(cfg)

    def use(control: JobControl, backend: ModelBackend, prepared: PreparedLMModel) -> ScoreOutcome:
        with scoring_progress(ScoreProgress(control, settings["progress_interval_s"])):
            return backend.score(prepared=prepared, cfg=cfg, settings=settings)

    return start_model_job(
        kind="score",
        run_id=run_id,
        settings=settings,
        use=use,
        sinks=sinks,
        registry=registry,
        which=which,
    )

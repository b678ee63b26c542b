"""The generate job: continuations sampled from a run's saved model, on a background thread."""

from __future__ import annotations

from collections.abc import Sequence

from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GenerateOutcome,
    ModelBackend,
    PreparedLMModel,
)
from model_trainer.core.contracts.validators import validate_generate_config
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.model_job import start_model_job
from model_trainer.core.jobs.runner import JobControl, JobHandle


def start_generate(
    run_id: str,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
    which: str = "last",
) -> JobHandle[GenerateOutcome]:
    """Start sampling from a completed run's model as ``cfg`` says; returns at once.

    ``which="best"`` uses the run's best checkpoint. The loaded model is ``handle.prepared``
    once the job has it. Its events also go to the run's ``events.jsonl``.
    ``handle.cancel()`` stops the sampling at its next token: the job ends ``cancelled``
    (``TRAINING_CANCELLED``) without an outcome.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad config or run id), ``MODEL_NOT_FOUND``
            (no such run, or a run without a saved model yet), ``MODEL_INCOMPATIBLE`` (a
            family without ``supports_generate``).
    """
    validate_generate_config(cfg)

    def use(
        control: JobControl, backend: ModelBackend, prepared: PreparedLMModel
    ) -> GenerateOutcome:
        sampled = [0]

        def on_token(index: int, text: str, prob: float) -> None:
            del index, text, prob
            sampled[0] += 1
            if control.cancelled():
                raise ModelTrainerError(
                    "TRAINING_CANCELLED",
                    f"generation from run {run_id!r} was stopped after {sampled[0]} sampled "
                    f"token(s) of max_new_tokens={cfg['max_new_tokens']}",
                )

        return backend.generate(prepared=prepared, cfg=cfg, settings=settings, on_token=on_token)

    return start_model_job(
        kind="generate",
        run_id=run_id,
        settings=settings,
        use=use,
        sinks=sinks,
        registry=registry,
        which=which,
    )

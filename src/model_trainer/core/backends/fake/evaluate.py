"""Evaluate a tiny fake run on its validation split."""

from __future__ import annotations

from model_trainer.core.backends.fake.io import load_fake
from model_trainer.core.backends.fake.prepare import FakeTrainConfig
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import EvalOutcome
from model_trainer.core.training.evaluate import evaluate_run


def evaluate_fake(run_dir: str, cfg: FakeTrainConfig, settings: Settings) -> EvalOutcome:
    """Loss, perplexity and bits per character of the run's saved model."""
    return evaluate_run(run_dir, cfg["train"], settings, load_fake)

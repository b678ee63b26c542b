"""Evaluate a GPT-2 run on its validation split."""

from __future__ import annotations

from model_trainer.core.backends.gpt2.config import GPT2TrainConfig
from model_trainer.core.backends.gpt2.io import load_gpt2
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import EvalOutcome
from model_trainer.core.training.evaluate import evaluate_run


def evaluate_gpt2(run_dir: str, cfg: GPT2TrainConfig, settings: Settings) -> EvalOutcome:
    """Loss, perplexity and bits per character of the run's saved model."""
    return evaluate_run(run_dir, cfg["train"], settings, load_gpt2)

"""Evaluate a char-LSTM run on its validation split."""

from __future__ import annotations

from model_trainer.core.backends.char_lstm.config import CharLSTMTrainConfig
from model_trainer.core.backends.char_lstm.io import load_char_lstm
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import EvalOutcome
from model_trainer.core.training.evaluate import evaluate_run


def evaluate_char_lstm(run_dir: str, cfg: CharLSTMTrainConfig, settings: Settings) -> EvalOutcome:
    """Loss, perplexity and bits per character of the run's saved model."""
    return evaluate_run(run_dir, cfg["train"], settings, load_char_lstm)

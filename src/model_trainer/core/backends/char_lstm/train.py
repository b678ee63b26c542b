"""Train a char-LSTM model with the shared loop."""

from __future__ import annotations

from model_trainer.core.backends.char_lstm.config import CharLSTMTrainConfig
from model_trainer.core.contracts.model import PreparedLMModel, TrainContext, TrainOutcome
from model_trainer.core.training.loop import run_training


def train_char_lstm(
    prepared: PreparedLMModel, cfg: CharLSTMTrainConfig, context: TrainContext
) -> TrainOutcome:
    """Train ``prepared`` in place, checkpointing into ``context["run_dir"]``."""
    return run_training(prepared, cfg["train"], context)

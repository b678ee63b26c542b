"""Train a GPT-2 model with the shared loop."""

from __future__ import annotations

from model_trainer.core.backends.gpt2.config import GPT2TrainConfig
from model_trainer.core.contracts.model import PreparedLMModel, TrainContext, TrainOutcome
from model_trainer.core.training.loop import run_training


def train_gpt2(
    prepared: PreparedLMModel, cfg: GPT2TrainConfig, context: TrainContext
) -> TrainOutcome:
    """Train ``prepared`` in place, checkpointing into ``context["run_dir"]``."""
    return run_training(prepared, cfg["train"], context)

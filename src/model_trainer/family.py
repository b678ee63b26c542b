"""Everything a model family of your own needs, in one import.

A family is one ``BackendFunctions`` table (the spec's), turned into a backend by
``create_backend`` and added to a ``ModelRegistry``; the shared pieces below are plain
functions a table names (the loop's ``run_training``, ``evaluate_run`` or ``evaluator``, the
forward-only ``score_forward_only`` and ``generate_forward_only``, ``ModuleFormat``'s
prepare, save and load), and the types its functions take and return. A family that trains
its own way runs the same loop on its own batches: ``BaseTrainer().train_epochs`` takes the
spec's ``train_loader`` (a ``DataLoader`` of ``(inputs, targets)``).
``save_tiny_checkpoint`` writes a tiny pretrained checkpoint (a Hugging Face folder) to try
``init_from`` and ``load_model`` on.
"""

from __future__ import annotations

from model_trainer.core.backends.adapter import (
    BackendFunctions,
    create_backend,
    default_capabilities,
    evaluator,
    family_shape,
    fresh_model,
    same_config,
)
from model_trainer.core.backends.family import family_capabilities
from model_trainer.core.backends.hf_causal_lm.tiny import save_tiny_checkpoint
from model_trainer.core.backends.module_format import ModuleFormat
from model_trainer.core.backends.registry import BUILTIN_BACKENDS, ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    BackendCapabilities,
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    ModelArtifact,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TrainingCallbacks,
    TrainOutcome,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ConfigError, ModelTrainerError
from model_trainer.core.inference.forward_only import generate_forward_only, score_forward_only
from model_trainer.core.training.evaluate import evaluate_run
from model_trainer.core.training.loop import BaseTrainer, run_training

__all__ = [
    "BUILTIN_BACKENDS",
    "BackendCapabilities",
    "BackendFunctions",
    "BaseTrainer",
    "ConfigError",
    "EvalOutcome",
    "GenerateConfig",
    "GenerateOutcome",
    "ModelArtifact",
    "ModelRegistry",
    "ModelTrainConfig",
    "ModelTrainerError",
    "ModuleFormat",
    "PreparedLMModel",
    "ScoreConfig",
    "ScoreOutcome",
    "Settings",
    "TokenizerHandle",
    "TrainOutcome",
    "TrainingCallbacks",
    "create_backend",
    "default_capabilities",
    "default_registry",
    "evaluate_run",
    "evaluator",
    "family_capabilities",
    "family_shape",
    "fresh_model",
    "generate_forward_only",
    "run_training",
    "same_config",
    "save_tiny_checkpoint",
    "score_forward_only",
]

"""The GPT-2 model family, as one ``ModelBackend``."""

from __future__ import annotations

from model_trainer.core.backends.adapter import BackendFunctions, create_backend
from model_trainer.core.backends.gpt2.config import GPT2TrainConfig, convert_gpt2_config
from model_trainer.core.backends.gpt2.evaluate import evaluate_gpt2
from model_trainer.core.backends.gpt2.generate import generate_gpt2
from model_trainer.core.backends.gpt2.io import load_gpt2, save_gpt2
from model_trainer.core.backends.gpt2.prepare import prepare_gpt2
from model_trainer.core.backends.gpt2.score import score_gpt2
from model_trainer.core.backends.gpt2.train import train_gpt2
from model_trainer.core.backends.registry import BUILTIN_BACKENDS

GPT2_BACKEND_FUNCS: BackendFunctions[GPT2TrainConfig] = {
    "name": "gpt2",
    "capabilities": BUILTIN_BACKENDS["gpt2"]["capabilities"],
    "convert_config": convert_gpt2_config,
    "prepare": prepare_gpt2,
    "train": train_gpt2,
    "evaluate": evaluate_gpt2,
    "score": score_gpt2,
    "generate": generate_gpt2,
    "save": save_gpt2,
    "load": load_gpt2,
}

gpt2_backend = create_backend(GPT2_BACKEND_FUNCS)

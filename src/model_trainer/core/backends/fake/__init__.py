"""The tiny fake model family, as one ``ModelBackend``."""

from __future__ import annotations

from model_trainer.core.backends.adapter import BackendFunctions, create_backend
from model_trainer.core.backends.fake.evaluate import evaluate_fake
from model_trainer.core.backends.fake.generate import generate_fake
from model_trainer.core.backends.fake.io import load_fake, save_fake
from model_trainer.core.backends.fake.prepare import (
    FakeTrainConfig,
    convert_fake_config,
    prepare_fake,
)
from model_trainer.core.backends.fake.score import score_fake
from model_trainer.core.backends.fake.train import train_fake
from model_trainer.core.backends.registry import BUILTIN_BACKENDS

FAKE_BACKEND_FUNCS: BackendFunctions[FakeTrainConfig] = {
    "name": "fake",
    "capabilities": BUILTIN_BACKENDS["fake"]["capabilities"],
    "convert_config": convert_fake_config,
    "prepare": prepare_fake,
    "train": train_fake,
    "evaluate": evaluate_fake,
    "score": score_fake,
    "generate": generate_fake,
    "save": save_fake,
    "load": load_fake,
}

fake_backend = create_backend(FAKE_BACKEND_FUNCS)

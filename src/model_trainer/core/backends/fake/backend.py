"""The fake model as the core needs it, scored and sampled by the shared forward-only code."""

from __future__ import annotations

from model_trainer.core.backends.adapter import (
    BackendFunctions,
    create_backend,
    evaluator,
    same_config,
)
from model_trainer.core.backends.fake import CAPABILITIES, FAKE_SIZES, FakeShape
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.backends.module_format import ModuleFormat
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.inference.batched import forward_batch
from model_trainer.core.inference.forward_only import generate_forward_only, score_forward_only
from model_trainer.core.training.loop import run_training

FAKE_FORMAT = ModuleFormat(
    "fake", model_type=FakeLM, shape_type=FakeShape, sizes=FAKE_SIZES, build=FakeLM
)
"""Its fresh models of a size, and its model folders: weights, ``config.json`` with the
shape, ``tokenizer.json``."""

FAKE_BACKEND_FUNCS: BackendFunctions[ModelTrainConfig] = {
    "name": "fake",
    "capabilities": CAPABILITIES,
    "convert_config": same_config,
    "prepare": FAKE_FORMAT.prepare,
    "train": run_training,
    "evaluate": evaluator(FAKE_FORMAT.load),
    "score": score_forward_only,
    "score_batch": forward_batch,
    "generate": generate_forward_only,
    "stream": generate_forward_only,
    "save": FAKE_FORMAT.save,
    "load": FAKE_FORMAT.load,
}

fake_backend = create_backend(FAKE_BACKEND_FUNCS)

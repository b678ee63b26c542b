"""The fake model as the core needs it, scored and sampled by the shared forward-only code."""

from __future__ import annotations

from model_trainer.core.backends.adapter import (
    BackendFunctions,
    create_backend,
    evaluator,
    family_shape,
    fresh_model,
    same_config,
)
from model_trainer.core.backends.artifact import ModuleFormat
from model_trainer.core.backends.fake import CAPABILITIES, FAKE_SIZES, FakeShape
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.inference.batched import forward_batch
from model_trainer.core.inference.forward_only import generate_forward_only, score_forward_only
from model_trainer.core.training.loop import run_training


def prepare_fake(
    cfg: ModelTrainConfig, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """A fresh fake model of ``cfg``'s size over the tokenizer's vocabulary."""
    del settings
    shape = family_shape(cfg, FAKE_SIZES)
    return fresh_model(cfg, tokenizer, lambda: FakeLM(shape, tokenizer.vocab_size))


FAKE_FORMAT = ModuleFormat(
    "fake", model_type=FakeLM, shape_type=FakeShape, sizes=FAKE_SIZES, build=FakeLM
)
"""Its model folders: weights, ``config.json`` with the shape, ``tokenizer.json``."""

FAKE_BACKEND_FUNCS: BackendFunctions[ModelTrainConfig] = {
    "name": "fake",
    "capabilities": CAPABILITIES,
    "convert_config": same_config,
    "prepare": prepare_fake,
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

"""The fake model as the core needs it, scored and sampled by the shared forward-only code."""

from __future__ import annotations

from model_trainer.core.backends.adapter import FamilyParts, family_backend
from model_trainer.core.backends.artifact import ModuleFormat
from model_trainer.core.backends.fake import CAPABILITIES, FAKE_SIZES, FakeShape
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.inference.forward_only import generate_forward_only, score_forward_only


def build_fake(shape: FakeShape, cfg: ModelTrainConfig, tokenizer: TokenizerHandle) -> FakeLM:
    """A fresh fake model of ``shape`` over the tokenizer's vocabulary."""
    del cfg
    return FakeLM(shape, tokenizer.vocab_size)


FAKE_FORMAT = ModuleFormat(
    "fake", model_type=FakeLM, shape_type=FakeShape, sizes=FAKE_SIZES, build=FakeLM
)
"""Its model folders: weights, ``config.json`` with the shape, ``tokenizer.json``."""

FAKE_PARTS: FamilyParts[FakeShape] = {
    "name": "fake",
    "capabilities": CAPABILITIES,
    "sizes": FAKE_SIZES,
    "build": build_fake,
    "save": FAKE_FORMAT.save,
    "load": FAKE_FORMAT.load,
    "score": score_forward_only,
    "generate": generate_forward_only,
}

fake_backend = family_backend(FAKE_PARTS)

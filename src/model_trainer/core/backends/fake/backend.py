"""The fake model as the core needs it, scored and sampled by the shared forward-only code."""

from __future__ import annotations

from model_trainer.core.backends.adapter import FamilyParts, family_backend
from model_trainer.core.backends.fake import CAPABILITIES, FAKE_SIZES, FakeShape
from model_trainer.core.backends.fake.io import load_fake, save_fake
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.inference.forward_only import generate_forward_only, score_forward_only


def build_fake(shape: FakeShape, cfg: ModelTrainConfig, tokenizer: TokenizerHandle) -> FakeLM:
    """A fresh fake model of ``shape`` over the tokenizer's vocabulary."""
    del cfg
    return FakeLM(shape, tokenizer.vocab_size)


FAKE_PARTS: FamilyParts[FakeShape] = {
    "name": "fake",
    "capabilities": CAPABILITIES,
    "sizes": FAKE_SIZES,
    "build": build_fake,
    "save": save_fake,
    "load": load_fake,
    "score": score_forward_only,
    "generate": generate_forward_only,
}

fake_backend = family_backend(FAKE_PARTS)

"""Fixtures of the model-family tests: a real char tokenizer and token ids it encodes."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from model_trainer.core.tokenizers.char import CharTokenizer

TEXT = "the quick brown fox jumps over the lazy dog.\nA Python: (x) = [1, 2]; {k}!?\n"


@pytest.fixture
def tokenizer() -> CharTokenizer:
    """A char tokenizer of a short text."""
    return CharTokenizer.from_text(TEXT)


@pytest.fixture
def sample_ids(tokenizer: CharTokenizer) -> Tensor:
    """Two rows of 12 token ids, ``(2, 12)``."""
    return torch.tensor([tokenizer.encode(TEXT[:12]), tokenizer.encode(TEXT[20:32])])

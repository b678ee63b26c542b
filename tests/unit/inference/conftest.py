"""Fixtures of the scoring and sampling tests: real tokenizers and tiny real models."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer

Prepare = Callable[[str, TokenizerHandle, int], PreparedLMModel]
FAMILIES = ("gpt2", "char_lstm", "fake")


@pytest.fixture(scope="session")
def corpus() -> str:
    """A slice of the builtin corpus, with a few non-ASCII characters added."""
    return builtin_text()[:20_000] + "\nnaïve café — 3 €, 東京\n"


@pytest.fixture(scope="session")
def char_tok(corpus: str) -> CharTokenizer:
    """A char tokenizer of ``corpus``."""
    return CharTokenizer.from_text(corpus)


@pytest.fixture(scope="session")
def bpe_tok(corpus: str) -> BPETokenizer:
    """A byte-level BPE of 300 ids trained on ``corpus``."""
    return BPETokenizer.train(corpus, 300)


@pytest.fixture(scope="session")
def tokenizers(char_tok: CharTokenizer, bpe_tok: BPETokenizer) -> dict[str, TokenizerHandle]:
    """Both tokenizers by kind."""
    return {"char": char_tok, "bpe": bpe_tok}


@pytest.fixture
def prepare(settings: Settings) -> Prepare:
    """Build a tiny fresh model: ``prepare(family, tokenizer, max_seq_len)``."""

    def build(family: str, tokenizer: TokenizerHandle, max_seq_len: int) -> PreparedLMModel:
        cfg = train_config(
            model_family=family,
            model_size="tiny",
            tokenizer_kind=tokenizer.kind,
            vocab_size=tokenizer.vocab_size,
            max_seq_len=max_seq_len,
            device="cpu",
        )
        return default_registry.get(family).prepare(cfg, settings, tokenizer=tokenizer)

    return build

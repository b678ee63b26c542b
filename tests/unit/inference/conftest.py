"""Fixtures of the scoring and sampling tests: real tokenizers and tiny real models."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from model_trainer.core.backends.char_lstm.config import convert_char_lstm_config
from model_trainer.core.backends.char_lstm.prepare import prepare_char_lstm
from model_trainer.core.backends.fake.prepare import convert_fake_config, prepare_fake
from model_trainer.core.backends.gpt2.config import convert_gpt2_config
from model_trainer.core.backends.gpt2.prepare import prepare_gpt2
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.training.corpus import builtin_text

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
        if family == "gpt2":
            return prepare_gpt2(convert_gpt2_config(cfg), settings, tokenizer)
        if family == "char_lstm":
            return prepare_char_lstm(convert_char_lstm_config(cfg), settings, tokenizer)
        return prepare_fake(convert_fake_config(cfg), settings, tokenizer)

    return build

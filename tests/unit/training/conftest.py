"""Fixtures of the training-engine tests: a real char codec and tiny real causal models."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

import pytest
import torch
from torch import Tensor, nn

from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.data.corpus import builtin_text

WIDTH = 32
Cell = Literal["lstm", "gru"]


class CharCodec:
    """A ``TokenizerHandle`` with one id per character of the text it was built from."""

    def __init__(self, text: str, kind: TokenizerKind = "char") -> None:
        self.chars = sorted(set(text))
        self.ids = {char: index for index, char in enumerate(self.chars)}
        self._kind: TokenizerKind = kind

    @property
    def kind(self) -> TokenizerKind:
        return self._kind

    @property
    def tokenizer_id(self) -> str:
        return f"codec-{len(self.chars)}"

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def eos_id(self) -> int:
        return 0

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int | None:
        return None

    def encode(self, text: str) -> list[int]:
        return [self.ids[char] for char in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def encode_offsets(self, text: str) -> list[tuple[int, int, int]]:
        return [(self.ids[char], i, i + 1) for i, char in enumerate(text)]

    def id_to_text(self, token_id: int) -> str:
        return self.chars[token_id]

    def save(self, path: str) -> None:
        Path(path).write_text("".join(self.chars), encoding="utf-8")


class TinyLM(nn.Module):
    """Embedding -> 2-layer LSTM (or GRU) -> linear head; ``tie`` shares embedding and head.

    The GRU is for bf16 autocast on a CPU, where oneDNN's LSTM rejects float32 inputs.
    """

    def __init__(
        self, vocab: int, *, dropout: float = 0.0, tie: bool = False, cell: Cell = "lstm"
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, WIDTH)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(WIDTH, WIDTH, num_layers=2, batch_first=True, dropout=dropout)
        self.head = nn.Linear(WIDTH, vocab)
        if tie:
            self.head.weight = self.embed.weight

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        hidden, _ = self.rnn(self.embed(input_ids))  # (B, T, W)
        logits: Tensor = self.head(hidden)  # (B, T, V)
        return logits


class MakeModel(Protocol):
    """Builds a seeded ``TinyLM``."""

    def __call__(
        self, *, seed: int = 0, dropout: float = 0.0, tie: bool = False, cell: Cell = "lstm"
    ) -> TinyLM: ...


class MakePrepared(Protocol):
    """Builds a fresh ``PreparedLMModel`` of a seeded ``TinyLM``."""

    def __call__(self, *, seed: int = 0, dropout: float = 0.1) -> PreparedLMModel: ...


@pytest.fixture(scope="session")
def text() -> str:
    """About 20,000 characters of real English text about Python."""
    return builtin_text()[:20_000]


@pytest.fixture(scope="session")
def codec(text: str) -> CharCodec:
    """A char codec of ``text``."""
    return CharCodec(text)


@pytest.fixture(scope="session")
def bpe_like(text: str) -> CharCodec:
    """A char codec of ``text`` that calls itself a BPE (its loss unit is the token)."""
    return CharCodec(text, kind="bpe")


@pytest.fixture
def corpus_file(tmp_path: Path, text: str) -> str:
    """``text`` written to a UTF-8 file."""
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def make_model(codec: CharCodec) -> MakeModel:
    """Build a seeded ``TinyLM`` over ``codec``'s vocabulary."""

    def build(
        *, seed: int = 0, dropout: float = 0.0, tie: bool = False, cell: Cell = "lstm"
    ) -> TinyLM:
        torch.manual_seed(seed)
        return TinyLM(codec.vocab_size, dropout=dropout, tie=tie, cell=cell)

    return build


def prepared_of(model: nn.Module, codec: CharCodec) -> PreparedLMModel:
    """A ``PreparedLMModel`` around ``model`` on the CPU."""
    return {
        "model": model,
        "model_family": "tiny",
        "model_size": "tiny",
        "tokenizer": codec,
        "tokenizer_id": codec.tokenizer_id,
        "eos_id": codec.eos_id,
        "pad_id": codec.pad_id,
        "max_seq_len": 32,
        "tok_for_dataset": codec,
        "device": "cpu",
    }


@pytest.fixture
def make_prepared(make_model: MakeModel, codec: CharCodec) -> MakePrepared:
    """A fresh ``PreparedLMModel`` of a seeded ``TinyLM``, with dropout between GRU layers."""

    def build(*, seed: int = 0, dropout: float = 0.1) -> PreparedLMModel:
        return prepared_of(make_model(seed=seed, dropout=dropout), codec)

    return build

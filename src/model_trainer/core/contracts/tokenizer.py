"""Tokenizer contracts: what a dataset, a model and a scorer need from a tokenizer."""

from __future__ import annotations

from typing import Literal, Protocol

TokenizerKind = Literal["char", "bpe", "pretrained"]


class Encoder(Protocol):
    """Text to token ids and back."""

    def encode(self, text: str) -> list[int]:
        """Return the token ids of ``text``."""
        ...

    def decode(self, ids: list[int]) -> str:
        """Return the text of ``ids``."""
        ...


class TokenizerHandle(Encoder, Protocol):
    """A trained tokenizer: an ``Encoder`` with a vocabulary, special ids and a file form.

    ``encode_offsets`` returns, for each token of ``text``, its id and the half-open
    character span ``(start, end)`` it covers; the spans tile the text exactly, so a
    per-token quantity can be spread over the characters it covers.
    """

    @property
    def kind(self) -> TokenizerKind:
        """``char``, ``bpe`` or ``pretrained`` (a pretrained model's own)."""
        ...

    @property
    def tokenizer_id(self) -> str:
        """A short content hash: two tokenizers with one id encode identically."""
        ...

    @property
    def vocab_size(self) -> int:
        """Number of ids, special ids included."""
        ...

    @property
    def eos_id(self) -> int:
        """End-of-text id."""
        ...

    @property
    def pad_id(self) -> int:
        """Padding id."""
        ...

    @property
    def unk_id(self) -> int | None:
        """Id of characters outside the vocabulary (char tokenizer), or None (byte-level BPE)."""
        ...

    def encode_offsets(self, text: str) -> list[tuple[int, int, int]]:
        """Return ``(id, start, end)`` for each token of ``text``."""
        ...

    def id_to_text(self, token_id: int) -> str:
        """Return the text one id stands for (special ids as their marker)."""
        ...

    def save(self, path: str) -> None:
        """Write the tokenizer to one JSON file at ``path``."""
        ...

"""Per-character scores of a text, stored as arrays and read as ``CharScore`` items on demand.

A text of ``N`` characters scored with ``T`` tokens keeps a few numbers a character (its
surprisal and token) and a few a token (rank, top-k ids and probabilities), never a Python
object a character: a 5 MB text's scores take tens of megabytes, and a ``CharScore`` dict
is built only when an item is read. The sequence compares equal to a list of the same items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NotRequired, TypedDict, overload

import torch
from torch import Tensor

from model_trainer.core.contracts.model import CharScore, TopKItem

READ_CHUNK = 4096


class CharArrays(TypedDict):
    """The arrays behind ``CharScores``: per character, then per token."""

    char_bits: Tensor  # (N,) float64 surprisal of each character
    char_token: Tensor  # (N,) int32 index of the token covering each character
    token_start: Tensor  # (T,) int64 first character of each token
    rank: Tensor  # (T,) int64
    top_ids: Tensor  # (T, k) int64, k = 0 without top-k
    top_probs: Tensor  # (T, k) float32
    top_chars: NotRequired[Tensor]  # (N, k) int32 code points of the likeliest characters
    top_char_probs: NotRequired[Tensor]  # (N, k) float32


class CharScores(Sequence[CharScore]):
    """The per-character scores of ``text``; item ``i`` is character ``i``'s ``CharScore``.

    ``with_top_k`` says whether characters carry a ``top_k`` list: with ``top_chars`` in
    the arrays every character lists the characters the model expected there; without,
    the first character of each token lists its tokens (``name(token_id)`` their text).
    """

    def __init__(
        self,
        text: str,
        arrays: CharArrays,
        *,
        name: Callable[[int], str],
        with_top_k: bool,
    ) -> None:
        self._text = text
        self._arrays = arrays
        self._name = name
        self._with_top_k = with_top_k

    def __len__(self) -> int:
        return len(self._text)

    @overload
    def __getitem__(self, index: int) -> CharScore: ...

    @overload
    def __getitem__(self, index: slice[int | None, int | None, int | None]) -> list[CharScore]: ...

    def __getitem__(
        self, index: int | slice[int | None, int | None, int | None]
    ) -> CharScore | list[CharScore]:
        if isinstance(index, slice):
            return self._items(*index.indices(len(self._text)))
        position = index + len(self._text) if index < 0 else index
        if not 0 <= position < len(self._text):
            raise IndexError(f"character {index} of a text of {len(self._text)} characters")
        return self._items(position, position + 1, 1)[0]

    def __iter__(self) -> Iterator[CharScore]:
        for first in range(0, len(self._text), READ_CHUNK):
            yield from self._items(first, min(first + READ_CHUNK, len(self._text)), 1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(other) == len(self) and all(
            mine == theirs for mine, theirs in zip(self, other, strict=True)
        )

    def __hash__(self) -> int:
        raise TypeError("CharScores is unhashable, like the list it stands for")

    def _items(self, start: int, stop: int, step: int) -> list[CharScore]:
        arrays = self._arrays
        chosen = torch.arange(start, stop, step, dtype=torch.long)  # (n,)
        tokens = arrays["char_token"][chosen]  # (n,)
        firsts: list[bool] = (arrays["token_start"][tokens] == chosen).tolist()
        bits: list[float] = arrays["char_bits"][chosen].tolist()
        token_list: list[int] = tokens.tolist()
        ranks: list[int] = arrays["rank"][tokens].tolist()
        top_ids: list[list[int]] = arrays["top_ids"][tokens].tolist()
        top_probs: list[list[float]] = arrays["top_probs"][tokens].tolist()
        char_codes: list[list[int]] = []
        char_probs: list[list[float]] = []
        if "top_chars" in arrays:
            char_codes = arrays["top_chars"][chosen].tolist()
            char_probs = arrays["top_char_probs"][chosen].tolist()
        out: list[CharScore] = []
        for offset, position in enumerate(range(start, stop, step)):
            item: CharScore = {
                "char": self._text[position],
                "surprisal_bits": bits[offset],
                "token_index": token_list[offset],
                "rank": ranks[offset],
            }
            if self._with_top_k and "top_chars" in arrays:
                item["top_k"] = [
                    TopKItem(text=chr(code), prob=prob)
                    for code, prob in zip(char_codes[offset], char_probs[offset], strict=True)
                    if code >= 0
                ]
            elif self._with_top_k and firsts[offset]:
                item["top_k"] = [
                    TopKItem(text=self._name(token_id), prob=prob)
                    for token_id, prob in zip(top_ids[offset], top_probs[offset], strict=True)
                ]
            out.append(item)
        return out

"""The next whole characters after a prefix of token text, as ranges of the sorted vocabulary.

The tokens whose text begins with ``prefix + c`` (``c`` one whole character) are one
contiguous range of the vocabulary sorted by bytes, a sub-range of ``prefix``'s own. So the
mass of each character the model may write next, inside a token that has spelled
``prefix`` so far, is a difference of two entries of the sorted cumulative probabilities.
Tokens that end exactly at ``prefix``, or whose next bytes are not a whole character, belong
to no next character: what follows them is not read from this distribution.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model_trainer.core.inference.vocab_text import char_at, prefix_range


class CharTree:
    """The next characters of every prefix asked for by ``node``, kept as one flat table.

    Node ``n``'s characters are ``code[ptr[n]:ptr[n + 1]]``, each with its range
    ``[lo, hi)`` of the sorted order.
    """

    def __init__(self, sorted_bytes: list[bytes]) -> None:
        """An empty table over ``sorted_bytes``, the vocabulary's texts in sorted order."""
        self._sorted = sorted_bytes
        self._nodes: dict[bytes, int] = {}
        self._code: list[int] = []
        self._lo: list[int] = []
        self._hi: list[int] = []
        self._ptr: list[int] = [0]

    def node(self, prefix: bytes) -> int:
        """The node of ``prefix``, its next characters found on first use."""
        if prefix not in self._nodes:
            self._nodes[prefix] = len(self._ptr) - 1
            depth = len(prefix)
            at, stop = prefix_range(self._sorted, prefix)
            while at < stop:
                piece = self._sorted[at]
                code = char_at(piece, depth)
                if code < 0:  # the token ends at the prefix, or its next bytes are no character
                    at += 1
                    continue
                _, after = prefix_range(self._sorted, piece[: depth + len(chr(code).encode())])
                self._code.append(code)
                self._lo.append(at)
                self._hi.append(after)
                at = after
            self._ptr.append(len(self._code))
        return self._nodes[prefix]

    def tables(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``ptr`` (nodes + 1,), then ``code``, ``lo`` and ``hi`` (entries,), all int64."""
        return (
            torch.tensor(self._ptr, dtype=torch.long),
            torch.tensor(self._code, dtype=torch.long),
            torch.tensor(self._lo, dtype=torch.long),
            torch.tensor(self._hi, dtype=torch.long),
        )

"""Each character's own probability under a token model's distribution over strings.

A token model gives every string ``x`` a prefix probability, ``P(x)``: the mass of the
token sequences whose text begins with ``x``. Each such *cover* is a path of tokens that
spells ``x[:j]`` exactly (``j < len(x)``) followed by one token whose text begins with
``x[j:]``, so ``P(x) = sum over paths of P(path) * M_path(x[j:])``, where ``M_path(y)`` is
the mass, in the next-token distribution after the path, of the tokens whose text begins
with ``y``. A character's probability is a ratio of two prefix probabilities,
``P(s[i] | s[:i]) = P(s[:i + 1]) / P(s[:i])``, so the product of a text's conditionals
is its prefix probability. Everything is counted in bytes (the bytes the tokens spell: the
text's UTF-8, after a space the tokenizer puts in front of it, if any), and a character is
read with its last byte.

``beam=1`` (the default) takes the one path of the canonical tokenization that ends last
before the prefix's end (the canonical tokenization with a one-token look-ahead): the
masses come from the next-token distributions scoring computes anyway. It sums over a
subset of the covers, so every prefix probability is a lower bound of the exact one, short
by exactly the mass of the covers whose path leaves the canonical tokenization; within a
token this is usually small, as the canonical path holds most of the mass.

``beam=K`` keeps K whole tokenizations of the text (the canonical one, then one at a
time the most probable one-token departure from a kept path, completed with the longest
tokens that fit) and sums over every cover whose path is a prefix of one of them, at one
more forward pass for each but the canonical one (``char_beam.py``). When K is at least the
number of tokenizations, every cover is counted and the prefix probabilities are exact.

Here: the byte layout of a text's tokens, and the masses of sorted-vocabulary ranges read
from blocks of logits rows (one pass for the exponentials, which also give the rows'
log-normaliser, one gather into sorted order, one sum per block of places).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TypedDict

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.vocab_text import VocabText

ROW_CHUNK = 64  # logits rows turned into sorted masses at a time
BLOCK = 64  # places of the sorted vocabulary summed together
SPELL_CHUNK = 1 << 16  # tokens whose bytes are checked against the text at a time
LN2 = math.log(2.0)

RunPath = Callable[[list[int]], Iterator[tuple[int, Tensor]]]
"""Runs the model over a path's ids; yields ``(first position, logits (n, V))`` in order."""


class ByteLayout(TypedDict):
    """Where tokens and characters lie in the bytes the tokens spell."""

    data: bytes  # the spelled bytes: ``lead`` bytes, then the text's UTF-8
    lead: int
    token_start: Tensor  # (T,) int64
    token_end: Tensor  # (T,) int64
    char_end: Tensor  # (N,) int64 the byte after each character
    token_text: Tensor  # (T,) int64 each token's text, an index into ``texts``
    texts: list[bytes]  # the distinct texts the tokens spell


def _char_offsets(encoded: bytes) -> Tensor:
    """The byte each character of the UTF-8 ``encoded`` starts at, then its length (N + 1,)."""
    raw = np.frombuffer(encoded, dtype=np.uint8)
    out = np.empty(np.count_nonzero((raw & 0xC0) != 0x80) + 1, dtype=np.int64)
    out[:-1] = np.flatnonzero((raw & 0xC0) != 0x80)
    out[-1] = len(encoded)
    return torch.from_numpy(out)


def byte_layout(
    text: str,
    ids: Tensor | list[int],
    starts: Tensor | list[int],
    ends: Tensor | list[int],
    vocab: VocabText,
) -> ByteLayout:
    """Lay the tokens ``ids`` (spans ``starts``/``ends`` in ``text``) over their bytes.

    A token without text (an added token matched in the text) spells its span's bytes.
    Only arrays are kept, a few numbers a token and a character: the token ids are read as
    Python numbers a stretch at a time.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the tokens do not spell the text
            (a normalizer changed it), naming the first byte where they differ.
    """
    token_ids = torch.as_tensor(ids, dtype=torch.long).cpu()  # (T,)
    encoded = text.encode("utf-8")
    offsets = _char_offsets(encoded)  # (N + 1,)
    widths = vocab["lengths"][token_ids]  # (T,)
    textless = (widths < 0).nonzero()[:, 0]  # (A,) added tokens: they spell their spans
    if textless.numel():
        span_start = torch.as_tensor(starts, dtype=torch.long)[textless]
        span_end = torch.as_tensor(ends, dtype=torch.long)[textless]
        widths[textless] = offsets[span_end] - offsets[span_start]
    token_end = torch.cumsum(widths, 0)  # (T,)
    lead = (int(token_end[-1]) if token_end.numel() else 0) - len(encoded)
    data = b" " * max(lead, 0) + encoded
    if lead not in (0, 1) or not _spells(data, token_ids, token_end, widths, vocab):
        raise _spelling_error(text, token_ids, starts, ends, vocab)
    unique, token_text = torch.unique(token_ids, return_inverse=True)  # (U,), (T,)
    texts = [vocab["token_bytes"][token_id] or b"" for token_id in unique.tolist()]
    own: dict[bytes, int] = {}
    for t in textless.tolist():
        piece = data[int(token_end[t] - widths[t]) : int(token_end[t])]
        token_text[t] = own.setdefault(piece, len(texts) + len(own))
    return {
        "data": data,
        "lead": lead,
        "token_start": token_end - widths,
        "token_end": token_end,
        "char_end": offsets[1:].add_(lead),
        "token_text": token_text,
        "texts": texts + list(own),
    }


def _spells(data: bytes, ids: Tensor, token_end: Tensor, widths: Tensor, vocab: VocabText) -> bool:
    """Whether the tokens spell ``data``, checked ``SPELL_CHUNK`` tokens at a time."""
    token_bytes = vocab["token_bytes"]
    for first in range(0, ids.shape[0], SPELL_CHUNK):
        ends: list[int] = token_end[first : first + SPELL_CHUNK].tolist()
        lengths: list[int] = widths[first : first + SPELL_CHUNK].tolist()
        pieces = [
            piece if (piece := token_bytes[token_id]) is not None else data[end - width : end]
            for token_id, end, width in zip(
                ids[first : first + SPELL_CHUNK].tolist(), ends, lengths, strict=True
            )
        ]
        if b"".join(pieces) != data[ends[0] - lengths[0] : ends[-1]]:
            return False
    return True


def _spelling_error(
    text: str,
    ids: Tensor,
    starts: Tensor | list[int],
    ends: Tensor | list[int],
    vocab: VocabText,
) -> ModelTrainerError:
    """The error naming the first byte where the tokens' bytes leave the text's."""
    token_bytes = vocab["token_bytes"]
    data = b"".join(
        piece if (piece := token_bytes[token_id]) is not None else text[a:b].encode("utf-8")
        for token_id, a, b in zip(
            ids.tolist(),
            torch.as_tensor(starts).tolist(),
            torch.as_tensor(ends).tolist(),
            strict=True,
        )
    )
    encoded = text.encode("utf-8")
    at = next(
        (i for i, (x, y) in enumerate(zip(data, encoded, strict=False)) if x != y),
        min(len(data), len(encoded)),
    )
    return ModelTrainerError(
        "MODEL_INCOMPATIBLE",
        f"the tokens spell {data[at : at + 12]!r} at byte {at} where the text has "
        f"{encoded[at : at + 12]!r}: the tokenizer changes the text, so characters "
        "have no probability of their own; score with attribution='even_spread'",
    )


class RowMasses:
    """The masses of ranges of the sorted vocabulary in a block of rows.

    ``probs`` (n, P) holds each row's ``exp(logit - max)`` in sorted order, zero past the
    vocabulary up to a whole number of ``BLOCK``-wide blocks; ``blocks`` (n, P / BLOCK + 1)
    float64 the cumulative sums of whole blocks; ``inverse`` (n,) float64 one over each
    row's sum. A range's mass adds whole blocks and at most two partial ones, each summed in
    float64 from its own entries: a small range keeps its digits next to a large mass.
    """

    def __init__(self, probs: Tensor, blocks: Tensor, inverse: Tensor) -> None:
        """Wrap one block of rows read by ``SortedRows``."""
        self.probs = probs
        self.blocks = blocks
        self.inverse = inverse
        self._cums: Tensor | None = None

    def sums(self, rows: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
        """The masses (m,) float64 of places ``[lo, hi)`` in ``rows``, all (m,) int64."""
        first_whole = (lo + BLOCK - 1) // BLOCK
        last_whole = torch.maximum(hi // BLOCK, first_whole)
        head_end = torch.minimum(first_whole * BLOCK, hi)
        tail_start = torch.maximum(last_whole * BLOCK, head_end)
        whole = self.blocks[rows, last_whole] - self.blocks[rows, first_whole]
        step = torch.arange(BLOCK, device=rows.device)
        head = lo[:, None] + step  # (m, BLOCK)
        tail = tail_start[:, None] + step  # (m, BLOCK)
        places = torch.cat([head, tail], 1).clamp_(max=self.probs.shape[1] - 1)
        kept = torch.cat([head < head_end[:, None], tail < hi[:, None]], 1)
        parts = self.probs[rows[:, None], places].masked_fill_(~kept, 0.0)
        return (whole + parts.sum(1, dtype=torch.float64)) * self.inverse[rows]

    def cumulative(self) -> Tensor:
        """Every row's cumulative masses (n, P) float64, made on first use."""
        if self._cums is None:
            self._cums = torch.cumsum(self.probs, 1, dtype=torch.float64)
            self._cums.mul_(self.inverse[:, None])
        return self._cums


def cumulative_sums(cums: Tensor, rows: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """The masses of places ``[lo, hi)`` in ``rows`` of ``RowMasses.cumulative``'s ``cums``."""
    zero = torch.zeros((), dtype=cums.dtype, device=cums.device)
    upto = torch.where(hi > 0, cums[rows, (hi - 1).clamp(min=0)], zero)
    below = torch.where(lo > 0, cums[rows, (lo - 1).clamp(min=0)], zero)
    return upto - below


class SortedRows:
    """Reads blocks of logits rows: their log-normaliser, and their sorted ``RowMasses``.

    ``order`` (S,) holds the id at each place of the sorted order. The buffers are kept from
    one block of rows to the next (a fresh tensor of this size costs more than the sums
    themselves), so a ``RowMasses`` holds only until the next call.
    """

    def __init__(self, order: Tensor) -> None:
        """No buffers yet: they are made for the first rows' device and count."""
        pad = -order.shape[0] % BLOCK
        self._order = torch.cat([order, order[:1].expand(pad)])  # (P,)
        self._size = order.shape[0]
        self._exps = torch.empty(0)
        self._probs = torch.empty(0)

    def read(self, logits: Tensor) -> tuple[Tensor, RowMasses]:
        """The log-normaliser (n, 1) float32 of ``logits`` (n, V), and their masses."""
        scores = logits.float()
        count = scores.shape[0]
        if self._exps.shape[0] < count or self._exps.device != scores.device:
            self._order = self._order.to(scores.device)
            self._exps = torch.empty_like(scores)
            self._probs = scores.new_empty(count, self._order.shape[0])
        top = scores.amax(-1, keepdim=True)  # (n, 1)
        exps = torch.sub(scores, top, out=self._exps[:count]).exp_()  # (n, V)
        total = exps.sum(-1, dtype=torch.float64)  # (n,)
        probs = torch.index_select(exps, 1, self._order, out=self._probs[:count])  # (n, P)
        probs[:, self._size :] = 0.0
        blocks = probs.view(count, -1, BLOCK).sum(-1, dtype=torch.float64)  # (n, P / BLOCK)
        starts = functional.pad(blocks.cumsum_(1), (1, 0))  # (n, P / BLOCK + 1)
        log_norm = (top.double() + total.log()[:, None]).float()
        return log_norm, RowMasses(probs, starts, total.reciprocal())

"""Beam-1 character probabilities, read from the canonical rows as scoring makes them.

Each block of logits rows is turned once into cumulative probabilities over the sorted
vocabulary (``char_probs.cumulative``), and every figure is then a difference of two of its
entries: a character end's prefix mass, and the masses of the next characters at a
character's start (``char_tree.py``). Only arrays a character or a token long are kept;
the rows themselves are let go.
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np
import torch
from torch import Tensor

from model_trainer.core.inference.char_probs import (
    LN2,
    ByteLayout,
    RowMasses,
    cumulative_sums,
)
from model_trainer.core.inference.char_tree import CharTree
from model_trainer.core.inference.vocab_text import VocabText, prefix_spans

TOP_CHUNK = 1 << 16  # characters whose top-k lists are finished at a time


class CharResult(TypedDict):
    """Per-character figures from the character probabilities.

    ``next_chars[i]`` (kept characters only) holds every next character the model may write
    after ``text[:i]`` and its probability, the text's own ``text[i]`` included.
    """

    char_bits: Tensor  # (N,) float64 -log2 P(s[i] | s[:i])
    top_chars: Tensor  # (N, k) int32 code points, -1 where fewer than k
    top_char_probs: Tensor  # (N, k) float32
    prefix_bits: float  # -log2 P(the model's text begins with the whole text)
    next_chars: dict[int, dict[str, float]]


def _code_points(text: str) -> Tensor:
    """The code point of each character of ``text`` (n,) int64."""
    return torch.from_numpy(
        np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    )


class CanonicalMasses:
    """The beam-1 masses of ``text``, fed the canonical tokenization's rows in order.

    ``end_mass[j]`` is the mass, in the row of the token holding the byte before the end
    ``[lead, *char_end][j]``, of the tokens whose text begins with that token's bytes up to
    the end. With ``top_k``, ``top_chars``/``top_masses`` hold the ``top_k`` likeliest next
    characters other than the text's own at each character, by their masses in the row of
    the token the character starts in; at the characters ``word_ends`` (``N``: after the
    text, from the row after the last token), every next character's mass, in ``groups``.
    """

    def __init__(
        self,
        text: str,
        layout: ByteLayout,
        vocab: VocabText,
        top_k: int | None,
        word_ends: Tensor | None = None,
    ) -> None:
        """Plan the sorted-order ranges of every distinct token text's prefixes."""
        self._text = text
        self._layout = layout
        self._keep = 0 if top_k is None else top_k
        self._word_ends = torch.zeros(0, dtype=torch.long) if word_ends is None else word_ends
        self.groups: dict[int, tuple[Tensor, Tensor]] = {}
        tree = CharTree(vocab["sorted_bytes"])
        reads_chars = bool(self._keep or self._word_ends.numel())
        spans: list[tuple[int, int]] = []
        nodes: list[int] = []
        for piece in layout["texts"]:
            spans.extend(prefix_spans(vocab, piece))
            if reads_chars:  # a character starts at each byte that does not go on another
                nodes.extend(
                    tree.node(piece[:d]) if piece[d] & 0xC0 != 0x80 else -1
                    for d in range(len(piece))
                )
        widths = torch.tensor([len(piece) for piece in layout["texts"]], dtype=torch.long)
        self._at = torch.cumsum(widths, 0) - widths  # (U,) where each text's entries begin
        bounds = torch.tensor(spans, dtype=torch.long).reshape(-1, 2)  # (entries, 2)
        self._lo, self._hi = bounds[:, 0], bounds[:, 1]
        self._node = torch.tensor(nodes, dtype=torch.long)  # (entries,) -1: no character starts
        self._root = tree.node(b"")
        self._tree = tree.tables()
        num_chars = layout["char_end"].shape[0]
        self.end_mass = torch.ones(num_chars + 1, dtype=torch.float64)  # (N + 1,)
        self.top_chars = torch.full((num_chars, self._keep), -1, dtype=torch.int32)
        self.top_masses = torch.zeros(num_chars, self._keep, dtype=torch.float32)

    def bounds(self, first: int, last: int) -> Tensor:
        """Boundaries ``first .. last`` (n,): the byte character ``j`` starts at, ``N`` the end.

        Boundary ``j`` is also the end of the prefix ``text[:j]`` (``[lead, *char_end][j]``).
        """
        char_end = self._layout["char_end"]
        if first:
            return char_end[first - 1 : last - 1]
        lead = torch.tensor([self._layout["lead"]])
        return torch.cat([lead, char_end[: max(last - 1, 0)]])[:last]

    def _chars_before(self, byte: int) -> int:
        """How many characters start before ``byte``."""
        before = torch.searchsorted(self._layout["char_end"][:-1], torch.tensor(byte))
        return int(before) + int(self._layout["lead"] < byte)

    def take(self, first: int, masses: RowMasses) -> None:
        """Read rows ``first ..`` of the canonical tokenization from their ``masses``."""
        num_tokens = self._layout["token_end"].shape[0]
        count = masses.probs.shape[0]
        last = min(first + count, num_tokens)
        if last > first:
            self._ends(first, last, masses)
            if self._keep or self._word_ends.numel():
                self._chars(first, last, masses.cumulative())
        if first + count > num_tokens:  # the row after the last token
            rows = torch.tensor([num_tokens - first])
            cums = masses.cumulative()
            _, codes, mass = self._children(cums, rows, torch.tensor([self._root]))
            self.groups[self._layout["char_end"].shape[0]] = (codes, mass)

    def _ends(self, first: int, last: int, masses: RowMasses) -> None:
        layout = self._layout
        begin = int(layout["token_start"][first])
        stop = int(layout["token_end"][last - 1])
        c0, c1 = torch.searchsorted(layout["char_end"], torch.tensor([begin, stop]), right=True)
        ends = layout["char_end"][c0:c1]  # (m,) the character ends within these rows' tokens
        slots = torch.arange(int(c0) + 1, int(c1) + 1)  # (m,)
        if begin < layout["lead"] <= stop:
            ends = torch.cat([torch.tensor([layout["lead"]]), ends])
            slots = torch.cat([torch.zeros(1, dtype=torch.long), slots])
        rows = torch.searchsorted(layout["token_end"][first:last], ends)  # (m,) holds end - 1
        depth = ends - layout["token_start"][first:last][rows]
        entry = self._at[layout["token_text"][first:last][rows]] + depth - 1
        device = masses.probs.device
        mass = masses.sums(rows.to(device), self._lo[entry].to(device), self._hi[entry].to(device))
        self.end_mass[slots] = mass.cpu()

    def _chars(self, first: int, last: int, cums: Tensor) -> None:
        layout = self._layout
        c0 = self._chars_before(int(layout["token_start"][first]))
        c1 = self._chars_before(int(layout["token_end"][last - 1]))
        which = torch.arange(c0, c1)  # (m,) the characters starting in these rows
        if not self._keep:
            ends = self._word_ends
            which = ends[(ends >= c0) & (ends < c1)]
        starts = self.bounds(c0, c1)[which - c0]
        rows = torch.searchsorted(layout["token_end"][first:last], starts, right=True)  # (m,)
        depth = starts - layout["token_start"][first:last][rows]
        nodes = self._node[self._at[layout["token_text"][first:last][rows]] + depth]
        owner, codes, mass = self._children(cums, rows, nodes)
        counts = torch.bincount(owner, minlength=which.shape[0])  # (m,)
        begin = torch.cumsum(counts, 0) - counts
        if self._keep:
            self._top(c0, c1, (torch.arange(owner.shape[0]) - begin[owner], owner, codes, mass))
        ends = self._word_ends
        for end in ends[(ends >= c0) & (ends < c1)].tolist():
            at = int(torch.searchsorted(which, torch.tensor(end)))
            part = slice(int(begin[at]), int(begin[at] + counts[at]))
            self.groups[end] = (codes[part], mass[part])

    def _children(self, cums: Tensor, rows: Tensor, nodes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The next characters of ``nodes`` (m,) in ``rows`` of ``cums``, flat, by owner.

        Returns ``owner`` (E,) the index into ``nodes`` of each entry, ``codes`` (E,) and
        ``mass`` (E,) float64; each node's entries are contiguous, in order.
        """
        ptr, code, lo, hi = self._tree
        begin = ptr[nodes]  # (m,)
        counts = ptr[nodes + 1] - begin  # (m,)
        owner = torch.repeat_interleave(torch.arange(nodes.shape[0]), counts)  # (E,)
        slot = torch.arange(owner.shape[0]) - (torch.cumsum(counts, 0) - counts)[owner]
        entry = begin[owner] + slot  # (E,)
        device = cums.device
        mass = cumulative_sums(
            cums, rows[owner].to(device), lo[entry].to(device), hi[entry].to(device)
        ).cpu()
        return owner, code[entry], mass

    def _top(self, c0: int, c1: int, entries: tuple[Tensor, Tensor, Tensor, Tensor]) -> None:
        """Keep the likeliest next characters but the text's own, at characters ``c0 .. c1``.

        ``entries``: each next character's place among its character's, that character
        (from ``c0``), its code point and its mass, (E,) each.
        """
        slot, owner, codes, mass = entries
        own = _code_points(self._text[c0:c1])  # (m,)
        width = int(slot.max()) + 1 if slot.numel() else 0
        grid = torch.full((c1 - c0, width), -1.0, dtype=torch.float64)  # (m, width)
        grid[owner, slot] = mass.masked_fill(codes == own[owner], -1.0)
        kinds = torch.full((c1 - c0, width), -1, dtype=torch.long)
        kinds[owner, slot] = codes
        best = torch.topk(grid, min(self._keep, width), dim=1)
        count = best.indices.shape[1]
        chosen = kinds.gather(1, best.indices).masked_fill(best.values < 0, -1)
        self.top_chars[c0:c1, :count] = chosen.int()
        self.top_masses[c0:c1, :count] = best.values.clamp(min=0.0).float()

    def log_prefix(self, path: Tensor) -> Tensor:
        """Log P at the byte ends ``[lead, *char_end]`` (N + 1,), given ``path`` (T + 1,).

        ``path[t]`` is the log-probability of the canonical tokens before token ``t``. It is
        made in place of ``end_mass``, which is spent.
        """
        layout = self._layout
        out = self.end_mass
        last_row = layout["token_end"].shape[0] - 1
        for first in range(0, out.shape[0], TOP_CHUNK):
            last = min(first + TOP_CHUNK, out.shape[0])
            rows = torch.searchsorted(layout["token_end"], self.bounds(first, last))
            out[first:last].log_().add_(path[rows.clamp_(max=last_row)])
        if not layout["lead"]:  # the empty prefix: every text begins with it
            out[0] = 0.0
        return out


def char_result(
    text: str,
    layout: ByteLayout,
    canonical: CanonicalMasses,
    token_lp: Tensor,
    log_prefix: Tensor | None,
) -> CharResult:
    """The per-character figures: from ``log_prefix`` (a beam's), else from beam 1.

    ``token_lp`` (T,) holds the canonical tokens' log-probabilities (nats).
    """
    path = torch.cat([torch.zeros(1, dtype=torch.float64), token_lp.double().cumsum(0)])
    if log_prefix is None:
        log_prefix = canonical.log_prefix(path)
    char_bits = (log_prefix[:-1] - log_prefix[1:]).div_(LN2)  # (N,)
    top_chars = canonical.top_chars
    top_probs = canonical.top_masses
    if top_chars.shape[1]:
        for first in range(0, len(text), TOP_CHUNK):
            last = min(first + TOP_CHUNK, len(text))
            rows = torch.searchsorted(
                layout["token_end"], canonical.bounds(first, last), right=True
            )
            _finish_top(
                text[first:last],
                top_chars[first:last],
                top_probs[first:last],
                (path[rows] - log_prefix[first:last]).exp(),  # (n,)
                torch.exp2(-char_bits[first:last]),  # (n,)
            )
    return {
        "char_bits": char_bits,
        "top_chars": top_chars,
        "top_char_probs": top_probs,
        "prefix_bits": float(log_prefix[0] - log_prefix[-1]) / LN2,
        "next_chars": _next_chars(text, layout, canonical, path, log_prefix),
    }


def _finish_top(text: str, chars: Tensor, probs: Tensor, scale: Tensor, own_prob: Tensor) -> None:
    """Masses to probabilities, the text's own character added with its own, sorted; in place."""
    keep = chars.shape[1]
    every = torch.cat([chars.long(), _code_points(text)[:, None]], 1)  # (n, k + 1)
    likely = torch.cat([probs.double() * scale[:, None], own_prob[:, None]], 1)  # (n, k + 1)
    likely.masked_fill_(every < 0, -1.0)
    ordered = likely.argsort(dim=1, descending=True, stable=True)[:, :keep]
    chars.copy_(every.gather(1, ordered))
    probs.copy_(likely.gather(1, ordered).clamp(min=0.0))


def _next_chars(
    text: str,
    layout: ByteLayout,
    canonical: CanonicalMasses,
    path: Tensor,
    log_prefix: Tensor,
) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for i, (kinds, mass) in canonical.groups.items():
        row = layout["token_end"].shape[0]
        if i < len(text):
            start = canonical.bounds(i, i + 1)
            row = int(torch.searchsorted(layout["token_end"], start, right=True)[0])
        probs = mass * math.exp(float(path[row] - log_prefix[i]))
        chars = dict(zip(map(chr, kinds.tolist()), probs.tolist(), strict=True))
        if i < len(text):
            chars[text[i]] = math.exp(float(log_prefix[i + 1] - log_prefix[i]))
        out[i] = chars
    return out

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
more forward pass each. When K is at least the number of tokenizations, every cover is
counted and the prefix probabilities are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TypedDict

import numpy as np
import torch
from torch import Tensor

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.vocab_text import VocabText, char_at, prefix_range

ROW_CHUNK = 64  # logits rows turned into sorted cumulative masses at a time
TOP_CHUNK = 1 << 16  # characters whose top-k lists are finished at a time
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


def byte_layout(
    text: str, ids: list[int], starts: list[int], ends: list[int], vocab: VocabText
) -> ByteLayout:
    """Lay the tokens ``ids`` (spans ``starts``/``ends`` in ``text``) over their bytes.

    A token without text (an added token matched in the text) spells its span's bytes.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the tokens do not spell the text
            (a normalizer changed it), naming the first byte where they differ.
    """
    token_bytes = vocab["token_bytes"]
    pieces = [
        piece if (piece := token_bytes[token_id]) is not None else text[a:b].encode("utf-8")
        for token_id, a, b in zip(ids, starts, ends, strict=True)
    ]
    data = b"".join(pieces)
    encoded = text.encode("utf-8")
    lead = len(data) - len(encoded)
    if not (data.endswith(encoded) and data[:lead] in (b"", b" ")):
        at = next(
            (i for i, (x, y) in enumerate(zip(data, encoded, strict=False)) if x != y),
            min(len(data), len(encoded)),
        )
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"the tokens spell {data[at : at + 12]!r} at byte {at} where the text has "
            f"{encoded[at : at + 12]!r}: the tokenizer changes the text, so characters "
            "have no probability of their own; score with attribution='even_spread'",
        )
    widths = torch.tensor([len(piece) for piece in pieces], dtype=torch.long)  # (T,)
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (N,)
    char_widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)  # (N,)
    token_end = torch.cumsum(widths, 0)  # (T,)
    return {
        "data": data,
        "lead": lead,
        "token_start": token_end - widths,
        "token_end": token_end,
        "char_end": torch.from_numpy(np.cumsum(char_widths, dtype=np.int64)) + lead,
    }


def _sorted_cumsum(logits: Tensor, order: Tensor) -> tuple[Tensor, Tensor]:
    """Probabilities of ``logits`` (n, V) in ``order`` (n, S), and float64 cumulative sums."""
    scores = logits.float()
    probs = (scores[:, order] - torch.logsumexp(scores, -1, keepdim=True)).exp()  # (n, S)
    cums = torch.zeros(
        scores.shape[0], order.shape[0] + 1, dtype=torch.float64, device=scores.device
    )
    cums[:, 1:] = probs.double().cumsum(1)
    return probs, cums


class CanonicalMasses:
    """The beam-1 masses, fed the canonical tokenization's logits rows as scoring makes them.

    For token ``t`` (bytes ``[a, b)``) it keeps ``M_t(data[a:a + l])`` for ``l = 1..b - a``
    (one mass a byte) and, with ``top_k``, the masses of the ``top_k + 1`` likeliest next
    characters at each character that starts inside the token. The sorted-order ranges are
    planned once per distinct token text.
    """

    def __init__(
        self,
        layout: ByteLayout,
        vocab: VocabText,
        top_k: int | None,
        whole_at: frozenset[int] = frozenset(),
    ) -> None:
        """Plan the ranges of every distinct token text's prefixes.

        At the characters ``whole_at`` (``N``: after the text, from the row after the last
        token) the masses of every next character are kept whole, in ``groups``.
        """
        self._layout = layout
        self._whole_at = whole_at
        self.groups: dict[int, tuple[Tensor, Tensor]] = {}
        self._vocab = vocab
        self._keep = 0 if top_k is None else top_k + 1
        data = layout["data"]
        distinct: dict[bytes, int] = {}
        which: list[int] = []
        for a, b in zip(layout["token_start"].tolist(), layout["token_end"].tolist(), strict=True):
            which.append(distinct.setdefault(data[a:b], len(distinct)))
        spans = [
            [prefix_range(vocab["sorted_bytes"], piece[:n]) for n in range(1, len(piece) + 1)]
            for piece in distinct
        ]
        self._lo = torch.tensor([lo for part in spans for lo, _ in part], dtype=torch.long)
        self._hi = torch.tensor([hi for part in spans for _, hi in part], dtype=torch.long)
        widths = torch.tensor([len(part) for part in spans], dtype=torch.long)
        self._at = torch.cumsum(widths, 0) - widths  # (U,) where each text's ranges begin
        self._which = torch.tensor(which, dtype=torch.long)  # (T,) each token's distinct text
        self._order = vocab["order"]
        self.masses = torch.zeros(len(data), dtype=torch.float64)  # (bytes,)
        num_chars = layout["char_end"].shape[0]
        self.top_chars = torch.full((num_chars, self._keep), -1, dtype=torch.int32)
        self.top_masses = torch.zeros(num_chars, self._keep, dtype=torch.float32)
        starts = torch.cat([torch.tensor([layout["lead"]]), layout["char_end"][:-1]])  # (N,)
        self.char_start = starts
        self._char_row = torch.searchsorted(layout["token_end"], starts, right=True)  # (N,)

    def rows(self, first: int, logits: Tensor) -> None:
        """Take the logits ``(n, V)`` of canonical positions ``first .. first + n``."""
        self._order = self._order.to(logits.device)
        for at in range(0, logits.shape[0], ROW_CHUNK):
            self._chunk(first + at, logits[at : at + ROW_CHUNK])

    def _chunk(self, first: int, logits: Tensor) -> None:
        layout = self._layout
        num_tokens = layout["token_end"].shape[0]
        if first + logits.shape[0] > num_tokens:  # the row after the last token
            after, _ = _sorted_cumsum(logits[-1:], self._order)
            self.groups[layout["char_end"].shape[0]] = self._group(after[0].cpu(), 0, 0)
            logits = logits[:-1]
            if not logits.shape[0]:
                return
        probs, cums = _sorted_cumsum(logits, self._order)  # (n, S), (n, S + 1)
        begin = int(layout["token_start"][first])
        stop = int(layout["token_end"][first + logits.shape[0] - 1])
        places = torch.arange(begin, stop)  # (p,) the bytes of these rows' tokens
        token = torch.searchsorted(layout["token_end"], places, right=True)  # (p,)
        flat = self._at[self._which[token]] + places - layout["token_start"][token]  # (p,)
        row = (token - first).to(cums.device)
        lo = self._lo[flat].to(cums.device)
        hi = self._hi[flat].to(cums.device)
        self.masses[begin:stop] = (cums[row, hi] - cums[row, lo]).cpu()
        if self._keep or self._whole_at:
            self._top(first, probs.cpu())

    def _top(self, first: int, probs: Tensor) -> None:
        layout = self._layout
        rows = torch.tensor([first, first + probs.shape[0]])
        lo_char, hi_char = torch.searchsorted(self._char_row, rows).tolist()
        for i in range(lo_char, hi_char):
            if not self._keep and i not in self._whole_at:
                continue
            row = int(self._char_row[i])
            a = int(layout["token_start"][row])
            kinds, mass = self._group(probs[row - first], a, int(self.char_start[i]) - a)
            if i in self._whole_at:
                self.groups[i] = (kinds, mass)
            best = torch.topk(mass, min(self._keep, kinds.shape[0]))
            count = best.indices.shape[0]
            self.top_chars[i, :count] = kinds[best.indices].int()
            self.top_masses[i, :count] = best.values.float()

    def _group(self, probs: Tensor, a: int, depth: int) -> tuple[Tensor, Tensor]:
        """The next characters after ``data[a:a + depth]`` and their masses, from ``probs``."""
        sorted_bytes = self._vocab["sorted_bytes"]
        lo, hi = prefix_range(sorted_bytes, self._layout["data"][a : a + depth])
        codes = (
            self._vocab["first_char"][lo:hi]
            if depth == 0
            else torch.tensor([char_at(p, depth) for p in sorted_bytes[lo:hi]], dtype=torch.long)
        )
        whole = codes >= 0
        kinds, where = torch.unique(codes[whole], return_inverse=True)
        mass = torch.zeros(kinds.shape[0], dtype=torch.float64)
        mass.index_add_(0, where, probs[lo:hi][whole].double())
        return kinds, mass


def _log_prefix_beam1(layout: ByteLayout, masses: Tensor, token_lp: Tensor) -> Tensor:
    """Log P at the byte ends ``[lead, *char_end]`` with the canonical path (beam 1)."""
    ends = torch.cat([torch.tensor([layout["lead"]]), layout["char_end"]])  # (N + 1,)
    path = torch.cat([torch.zeros(1, dtype=torch.float64), token_lp.cumsum(0)])  # (T + 1,)
    row = torch.searchsorted(layout["token_end"], ends).clamp(max=token_lp.shape[0] - 1)
    log_prefix = path[row].add_(masses[(ends - 1).clamp(min=0)].log())  # (N + 1,)
    return log_prefix.masked_fill_(ends == 0, 0.0)


class _Prefix(TypedDict):
    start: int  # byte the path's text ends at
    log_path: float
    log_masses: list[float]  # log M(data[start:start + l]), l = 1, 2, ...
    departures: list[tuple[int, int, float]]  # (id, bytes, log p) spelling data exactly


class BeamPaths:
    """The prefixes of up to ``beam`` tokenizations, each with its next-token masses."""

    def __init__(self, layout: ByteLayout, vocab: VocabText) -> None:
        """Start with no path; ``add`` the canonical one first."""
        self._layout = layout
        self._vocab = vocab
        self._ranges: dict[int, list[tuple[int, int]]] = {}
        self.prefixes: dict[tuple[int, ...], _Prefix] = {}
        self._paths: set[tuple[int, ...]] = set()

    def _spans(self, start: int) -> list[tuple[int, int]]:
        if start not in self._ranges:
            data = self._layout["data"]
            spans: list[tuple[int, int]] = []
            for stop in range(start + 1, len(data) + 1):
                lo, hi = prefix_range(self._vocab["sorted_bytes"], data[start:stop])
                if lo == hi:
                    break
                spans.append((lo, hi))
            self._ranges[start] = spans
        return self._ranges[start]

    def starts_of(self, path: list[int]) -> list[int]:
        """The byte each token of ``path`` (text tokens only) starts at, then the end."""
        starts = [0]
        for token_id in path:
            starts.append(starts[-1] + len(self._vocab["token_bytes"][token_id] or b""))
        return starts

    def add(self, path: list[int], starts: list[int], rows: Iterator[tuple[int, Tensor]]) -> None:
        """Keep ``path``, its tokens starting at bytes ``starts``, its logits ``rows``."""
        data = self._layout["data"]
        log_path = 0.0
        self._paths.add(tuple(path))
        for first, logits in rows:
            _, cums = _sorted_cumsum(logits, self._vocab["order"].to(logits.device))
            cums = cums.cpu()  # (n, S + 1)
            lse = torch.logsumexp(logits.double(), -1)  # (n,)
            for r in range(logits.shape[0]):
                t = first + r
                key = tuple(path[:t])
                start = starts[t]
                if key not in self.prefixes:
                    spans = self._spans(start)
                    exact = self._vocab["exact"]
                    departures = [
                        (token_id, stop - start, float(logits[r, token_id].double() - lse[r]))
                        for stop in range(start + 1, start + len(spans) + 1)
                        for token_id in exact.get(data[start:stop], [])
                    ]
                    self.prefixes[key] = {
                        "start": start,
                        "log_path": log_path,
                        "log_masses": (
                            cums[r, [hi for _, hi in spans]] - cums[r, [lo for lo, _ in spans]]
                        )
                        .log()
                        .tolist(),
                        "departures": departures,
                    }
                log_path += float(logits[r, path[t]].double() - lse[r])

    def next_path(self) -> list[int] | None:
        """The most probable one-token departure from a kept path, completed; None if none."""
        best: tuple[float, tuple[int, ...], int] | None = None
        for key, prefix in self.prefixes.items():
            for token_id, width, log_p in prefix["departures"]:
                head = (*key, token_id)
                if head in self.prefixes or head in self._paths:
                    continue
                score = prefix["log_path"] + log_p
                if best is None or score > best[0]:
                    best = (score, head, prefix["start"] + width)
        if best is None:
            return None
        return [*best[1], *self._longest(best[2])]

    def _longest(self, start: int) -> list[int]:
        data = self._layout["data"]
        exact = self._vocab["exact"]
        out: list[int] = []
        while start < len(data):
            reach = start + len(self._spans(start))
            stop = max(s for s in range(start + 1, reach + 1) if data[start:s] in exact)
            out.append(exact[data[start:stop]][0])
            start = stop
        return out

    def log_prefix(self) -> Tensor:
        """Log P at the byte ends ``[lead, *char_end]``, over every kept prefix's covers."""
        by_start: dict[int, list[_Prefix]] = {}
        for prefix in self.prefixes.values():
            by_start.setdefault(prefix["start"], []).append(prefix)
        reach = max(len(prefix["log_masses"]) for prefix in self.prefixes.values())
        lead = self._layout["lead"]
        out: list[float] = [] if lead else [0.0]
        for end in [*([lead] if lead else []), *self._layout["char_end"].tolist()]:
            terms = [
                prefix["log_path"] + prefix["log_masses"][end - start - 1]
                for start in range(max(0, end - reach), end)
                for prefix in by_start.get(start, [])
                if end - start <= len(prefix["log_masses"])
            ]
            out.append(float(torch.tensor(terms, dtype=torch.float64).logsumexp(0)))
        return torch.tensor(out, dtype=torch.float64)


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
    if log_prefix is None:
        log_prefix = _log_prefix_beam1(layout, canonical.masses, token_lp.double())
    nats = log_prefix[:-1] - log_prefix[1:]  # (N,)
    keep = canonical.top_chars.shape[1]
    top_chars = canonical.top_chars
    top_probs = canonical.top_masses
    if keep:
        path = torch.cat([torch.zeros(1, dtype=torch.float64), token_lp.double().cumsum(0)])
        row = torch.searchsorted(layout["token_end"], canonical.char_start, right=True)
        for first in range(0, len(text), TOP_CHUNK):
            last = min(first + TOP_CHUNK, len(text))
            _finish_top(
                text[first:last],
                top_chars[first:last],
                top_probs[first:last],
                (path[row[first:last]] - log_prefix[first:last]).exp(),  # (n,)
                (-nats[first:last]).exp(),  # (n,)
            )
        top_chars = top_chars[:, : keep - 1]
        top_probs = top_probs[:, : keep - 1]
    return {
        "char_bits": nats / LN2,
        "top_chars": top_chars,
        "top_char_probs": top_probs,
        "prefix_bits": float(-log_prefix[-1] + log_prefix[0]) / LN2,
        "next_chars": _next_chars(text, layout, canonical, token_lp, log_prefix),
    }


def _finish_top(text: str, chars: Tensor, probs: Tensor, scale: Tensor, own_prob: Tensor) -> None:
    """Masses to probabilities, the text's own character its own, sorted; in place."""
    probs.mul_(scale[:, None].float())
    actual = torch.tensor([ord(char) for char in text], dtype=torch.int32)  # (n,)
    own = chars == actual[:, None]
    probs.copy_(torch.where(own, own_prob[:, None].float().expand_as(probs), probs))
    probs.masked_fill_(chars < 0, 0.0)
    ordered = probs.argsort(dim=1, descending=True, stable=True)
    chars.copy_(chars.gather(1, ordered))
    probs.copy_(probs.gather(1, ordered))


def _next_chars(
    text: str,
    layout: ByteLayout,
    canonical: CanonicalMasses,
    token_lp: Tensor,
    log_prefix: Tensor,
) -> dict[int, dict[str, float]]:
    path = torch.cat([torch.zeros(1, dtype=torch.float64), token_lp.double().cumsum(0)])
    rows = torch.searchsorted(layout["token_end"], canonical.char_start, right=True).tolist()
    out: dict[int, dict[str, float]] = {}
    for i, (kinds, mass) in canonical.groups.items():
        row = rows[i] if i < len(text) else token_lp.shape[0]
        probs = mass * math.exp(float(path[row] - log_prefix[i]))
        chars = dict(zip(map(chr, kinds.tolist()), probs.tolist(), strict=True))
        if i < len(text):
            chars[text[i]] = math.exp(float(log_prefix[i + 1] - log_prefix[i]))
        out[i] = chars
    return out


def beam_log_prefix(
    layout: ByteLayout, vocab: VocabText, canonical: list[int], beam: int, run: RunPath
) -> Tensor:
    """Log P at the byte ends ``[lead, *char_end]`` over ``beam`` tokenizations' covers.

    The canonical tokenization ``canonical`` comes first; each further one is
    ``BeamPaths.next_path``, until ``beam`` are kept or no departure is left.
    """
    paths = BeamPaths(layout, vocab)
    starts = [0, *layout["token_end"].tolist()]
    paths.add(canonical, starts, run(canonical))
    for _ in range(beam - 1):
        path = paths.next_path()
        if path is None:
            break
        paths.add(path, paths.starts_of(path), run(path))
    return paths.log_prefix()

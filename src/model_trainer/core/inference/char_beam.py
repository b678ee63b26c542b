"""Prefix probabilities summed over a beam of K tokenizations of the text (``beam=K``).

The canonical tokenization comes first, read from the rows scoring computes anyway; each
further one is the most probable one-token departure from a kept path, completed with the
longest tokens that fit, and costs one more forward pass. Every cover whose path is a prefix
of a kept tokenization is summed (``char_probs.py`` says what a cover is).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import torch
from torch import Tensor

from model_trainer.core.inference.char_probs import (
    ROW_CHUNK,
    ByteLayout,
    RowMasses,
    RunPath,
    SortedRows,
)
from model_trainer.core.inference.vocab_text import VocabText, prefix_range


class _Prefix(TypedDict):
    start: int  # byte the path's text ends at
    log_path: float
    log_masses: list[float]  # log M(data[start:start + l]), l = 1, 2, ...
    departures: list[tuple[int, int, float]]  # (id, bytes, log p) spelling data exactly


class BeamPaths:
    """The prefixes of up to ``beam`` tokenizations, each with its next-token masses.

    The prefixes of the kept paths form a tree: node 0 is the empty path, and a node's child
    by a token is the path one token longer.
    """

    def __init__(self, layout: ByteLayout, vocab: VocabText) -> None:
        """Start with no path; ``follow`` the canonical one first."""
        self._layout = layout
        self._vocab = vocab
        self._ranges: dict[int, list[tuple[int, int]]] = {}
        self.prefixes: dict[int, _Prefix] = {}
        self._child: dict[tuple[int, int], int] = {}
        self._parent: list[tuple[int, int]] = [(-1, -1)]  # (parent node, token) by node
        self._path: list[int] = []
        self._starts: list[int] = []
        self._node = 0
        self._log_path = 0.0
        self._reader = SortedRows(vocab["order"])

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

    def _step(self, node: int, token_id: int) -> int:
        """The node one token past ``node``, made on first use."""
        key = (node, token_id)
        if key not in self._child:
            self._child[key] = len(self._parent)
            self._parent.append(key)
        return self._child[key]

    def starts_of(self, path: list[int]) -> list[int]:
        """The byte each token of ``path`` (text tokens only) starts at, then the end."""
        starts = [0]
        for token_id in path:
            starts.append(starts[-1] + len(self._vocab["token_bytes"][token_id] or b""))
        return starts

    def follow(self, path: list[int], starts: list[int]) -> None:
        """Keep ``path``, its tokens starting at bytes ``starts``; ``take`` its rows next."""
        self._path = path
        self._starts = starts
        self._node = 0
        self._log_path = 0.0
        node = 0
        for token_id in path:
            node = self._step(node, token_id)

    def take(self, first: int, logits: Tensor, masses: RowMasses) -> None:
        """The followed path's logits ``(n, V)`` from position ``first``, and their masses.

        A row past the path's last token (the one words read) is left alone. The masses
        and log-probabilities of the block's new prefixes are read in one gather each.
        """
        data = self._layout["data"]
        exact = self._vocab["exact"]
        count = min(logits.shape[0], len(self._path) - first)
        scores = logits[:count].double()
        lse = torch.logsumexp(scores, -1)  # (n,)
        steps = self._path[first : first + count]
        taken = (scores[torch.arange(count), steps] - lse).tolist()
        fresh: list[tuple[int, int, int]] = []  # (node, row, spans)
        places: list[tuple[int, int, int]] = []  # (row, lo, hi) of their spans
        departs: list[tuple[int, int, int]] = []  # (row, id, bytes) of their departures
        for r, token_id in enumerate(steps):
            start = self._starts[first + r]
            if self._node not in self.prefixes:
                spans = self._spans(start)
                self.prefixes[self._node] = {
                    "start": start,
                    "log_path": self._log_path,
                    "log_masses": [],
                    "departures": [],
                }
                fresh.append((self._node, r, len(spans)))
                places.extend((r, lo, hi) for lo, hi in spans)
                departs.extend(
                    (r, other, stop - start)
                    for stop in range(start + 1, start + len(spans) + 1)
                    for other in exact.get(data[start:stop], [])
                )
            self._log_path += taken[r]
            self._node = self._child[(self._node, token_id)]
        self._fill(fresh, places, departs, masses, scores - lse[:, None])

    def _fill(
        self,
        fresh: list[tuple[int, int, int]],
        places: list[tuple[int, int, int]],
        departs: list[tuple[int, int, int]],
        masses: RowMasses,
        log_probs: Tensor,
    ) -> None:
        """Read the new prefixes' span masses and departures' log-probabilities."""
        device = masses.probs.device
        at = torch.tensor(places, dtype=torch.long, device=device).reshape(-1, 3)
        logs: list[float] = masses.sums(at[:, 0], at[:, 1], at[:, 2]).log().tolist()
        moves = torch.tensor(departs, dtype=torch.long, device=log_probs.device).reshape(-1, 3)
        move_lp: list[float] = log_probs[moves[:, 0], moves[:, 1]].tolist()
        rows_of: list[int] = moves[:, 0].tolist()
        begin = 0
        cursor = 0
        for node, row, width in fresh:
            prefix = self.prefixes[node]
            prefix["log_masses"] = logs[begin : begin + width]
            begin += width
            while cursor < len(departs) and rows_of[cursor] == row:
                _, token_id, length = departs[cursor]
                prefix["departures"].append((token_id, length, move_lp[cursor]))
                cursor += 1

    def add(self, path: list[int], rows: Iterator[tuple[int, Tensor]]) -> None:
        """Keep ``path`` (its starts from its tokens' bytes) and read its logits ``rows``."""
        self.follow(path, self.starts_of(path))
        for first, logits in rows:
            for at in range(0, logits.shape[0], ROW_CHUNK):
                part = logits[at : at + ROW_CHUNK]
                self.take(first + at, part, self._reader.read(part)[1])

    def next_path(self) -> list[int] | None:
        """The most probable one-token departure from a kept path, completed; None if none."""
        best: tuple[float, int, int, int] | None = None  # (log p, node, token, end byte)
        for node, prefix in self.prefixes.items():
            for token_id, width, log_p in prefix["departures"]:
                if (node, token_id) in self._child:
                    continue
                score = prefix["log_path"] + log_p
                if best is None or score > best[0]:
                    best = (score, node, token_id, prefix["start"] + width)
        if best is None:
            return None
        _, node, token_id, end = best
        head = [token_id]
        while node:
            node, token_id = self._parent[node]
            head.append(token_id)
        return [*reversed(head), *self._longest(end)]

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
        layout = self._layout
        ends = torch.cat([torch.tensor([layout["lead"]]), layout["char_end"]])  # (N + 1,)
        at: list[int] = []
        terms: list[float] = []
        for prefix in self.prefixes.values():
            at.extend(range(prefix["start"] + 1, prefix["start"] + len(prefix["log_masses"]) + 1))
            terms.extend(prefix["log_path"] + m for m in prefix["log_masses"])
        byte = torch.tensor(at, dtype=torch.long)  # (C,) where each cover's text ends
        value = torch.tensor(terms, dtype=torch.float64)  # (C,)
        slot = torch.searchsorted(ends, byte).clamp(max=ends.shape[0] - 1)  # (C,)
        hit = ends[slot] == byte
        slot, value = slot[hit], value[hit]
        top = torch.full((ends.shape[0],), -torch.inf, dtype=torch.float64)
        top.scatter_reduce_(0, slot, value, "amax")
        top = top.masked_fill(top == -torch.inf, 0.0)
        total = torch.zeros_like(top).index_add_(0, slot, (value - top[slot]).exp())
        out = top + total.log()
        return out.masked_fill_(ends == 0, 0.0)


def beam_log_prefix(paths: BeamPaths, beam: int, run: RunPath) -> Tensor:
    """Log P at the byte ends ``[lead, *char_end]`` over ``beam`` tokenizations' covers.

    ``paths`` has taken the canonical tokenization's rows; each further tokenization is
    ``BeamPaths.next_path``, until ``beam`` are kept or no departure is left.
    """
    for _ in range(beam - 1):
        path = paths.next_path()
        if path is None:
            break
        paths.add(path, run(path))
    return paths.log_prefix()

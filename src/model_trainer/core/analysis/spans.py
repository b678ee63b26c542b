"""Spans of a corpus scoring: the most surprising runs of words or characters, and gaps.

A span is a run of consecutive words (or characters) of one document; its bits are the sum
of its units' bits in the words (or characters) table. ``surprising_spans`` ranks one
model's spans by their bits, ``where_beats`` the spans two models both scored by how many
bits one saves over the other.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from model_trainer.core.analysis.slices import (
    CorpusScores,
    Floats,
    Ints,
    Table,
    as_table,
    floats,
    ints,
    model_rows,
    objects,
    read_table,
)
from model_trainer.core.errors import ModelTrainerError

SpanLevel = Literal["words", "characters"]
UNIT: Final[dict[SpanLevel, str]] = {"words": "word", "characters": "pos"}
"""The column numbering a span level's units inside a document."""


def _positive(field: str, value: int) -> None:
    if value < 1:
        raise ModelTrainerError("INVALID_CONFIG", f"{field} must be at least 1, got {value}")


class _Units:
    """One model's words or characters, in document order: the spans' building blocks."""

    def __init__(self, table: Table, level: SpanLevel, rows: NDArray[np.bool_]) -> None:
        self.doc = ints(table, "doc")[rows]
        self.index = ints(table, UNIT[level])[rows]
        self.bits = floats(table, "bits")[rows]
        if level == "words":
            self.start = ints(table, "start")[rows]
            self.end = ints(table, "end")[rows]
            self.text = objects(table, "text")[rows]
        else:
            self.start = self.index
            self.end = self.index + 1
            self.text = objects(table, "char")[rows]
        self.take(np.asarray(np.lexsort((self.index, self.doc)), dtype=np.int64))

    def take(self, picked: Ints) -> None:
        """Keep only the units at ``picked``."""
        self.doc, self.index, self.bits = self.doc[picked], self.index[picked], self.bits[picked]
        self.start, self.end, self.text = self.start[picked], self.end[picked], self.text[picked]

    def windows(self, length: int) -> tuple[Ints, Floats]:
        """The first unit of each run of ``length`` consecutive units, and the run's bits."""
        if len(self.bits) < length:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        first = np.arange(len(self.bits) - length + 1, dtype=np.int64)
        last = first + (length - 1)
        whole = (self.doc[first] == self.doc[last]) & (
            self.index[last] - self.index[first] == length - 1
        )
        sums = np.lib.stride_tricks.sliding_window_view(self.bits, length).sum(axis=1)
        return first[whole], np.asarray(sums[whole], dtype=np.float64)

    def span_text(self, first: int, length: int) -> str:
        """The text of the run at ``first`` (whitespace between words shown as spaces)."""
        parts = [str(self.text[first])]
        for unit in range(first + 1, first + length):
            parts.append(" " * int(self.start[unit] - self.end[unit - 1]))
            parts.append(str(self.text[unit]))
        return "".join(parts)


def _units(scores: CorpusScores, level: SpanLevel) -> Table:
    """The ``level`` table, checked to have the columns spans are made of."""
    if level == "words":
        return read_table(scores, level, ["doc", "model", "word", "start", "end", "text", "bits"])
    return read_table(scores, level, ["doc", "model", "pos", "char", "bits"])


def _ranked(units: _Units, first: Ints, key: Floats, count: int) -> Ints:
    """The ``count`` runs with the highest ``key`` (ties: earlier document, earlier start)."""
    order = np.lexsort((units.start[first], units.doc[first], -key))
    return np.asarray(order[:count], dtype=np.int64)


def surprising_spans(
    scores: CorpusScores,
    model: str,
    *,
    level: SpanLevel = "words",
    length: int = 1,
    count: int = 20,
) -> Table:
    """The ``count`` spans that cost ``model`` the most bits, most costly first.

    ``scores`` is ``score_corpus``'s handle or ``open_scores(name)``.
    A span is a run of ``length`` consecutive words (or characters) of one document. Columns:
    ``model``, ``doc``, ``start`` and ``end`` (character offsets, end exclusive), ``text``,
    ``bits`` (the span's total surprisal) and ``bits_per_char``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for a model not in the table,
            ``INVALID_CONFIG`` for a ``length`` or ``count`` under 1.
    """
    _positive("length", length)
    _positive("count", count)
    table = _units(scores, level)
    units = _Units(table, level, model_rows(table, level, model))
    first, bits = units.windows(length)
    top = _ranked(units, first, bits, count)
    rows = first[top]
    starts, ends = units.start[rows], units.end[rows + (length - 1)]
    return as_table(
        {
            "model": [model] * len(rows),
            "doc": units.doc[rows],
            "start": starts,
            "end": ends,
            "text": [units.span_text(int(row), length) for row in rows],
            "bits": bits[top],
            "bits_per_char": bits[top] / (ends - starts),
        }
    )


def where_beats(
    scores: CorpusScores,
    model: str,
    other: str,
    *,
    level: SpanLevel = "words",
    length: int = 1,
    count: int = 20,
) -> Table:
    """The ``count`` spans where ``model`` needs fewest bits against ``other``, widest gap first.

    Spans as for ``surprising_spans``, on the units both models scored. Columns: ``model``,
    ``other``, ``doc``, ``start``, ``end``, ``text``, ``bits`` (``model``'s), ``other_bits``
    and ``gap`` (``other_bits - bits``: positive where ``model`` beats ``other``).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for a model not in the table,
            ``INVALID_CONFIG`` for the same model twice or a ``length`` or ``count`` under 1.
    """
    _positive("length", length)
    _positive("count", count)
    if model == other:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"model and other must differ, both are {model!r}"
        )
    table = _units(scores, level)
    mine = _Units(table, level, model_rows(table, level, model))
    theirs = _Units(table, level, model_rows(table, level, other))
    stride = int(max(mine.index.max(), theirs.index.max())) + 1
    _, picked_mine, picked_theirs = np.intersect1d(
        mine.doc * stride + mine.index,
        theirs.doc * stride + theirs.index,
        assume_unique=True,
        return_indices=True,
    )
    mine.take(np.asarray(picked_mine, dtype=np.int64))
    theirs.take(np.asarray(picked_theirs, dtype=np.int64))
    first, bits = mine.windows(length)
    _, other_bits = theirs.windows(length)
    gap = other_bits - bits
    top = _ranked(mine, first, gap, count)
    rows = first[top]
    return as_table(
        {
            "model": [model] * len(rows),
            "other": [other] * len(rows),
            "doc": mine.doc[rows],
            "start": mine.start[rows],
            "end": mine.end[rows + (length - 1)],
            "text": [mine.span_text(int(row), length) for row in rows],
            "bits": bits[top],
            "other_bits": other_bits[top],
            "gap": gap[top],
        }
    )

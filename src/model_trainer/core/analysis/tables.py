"""The rows of the three long tables, made from each document's score outcomes.

One row per (document, model) in ``documents``, per (document, model, word) in ``words``, per
(document, model, character) in ``characters``, so models of different tokenizers share a
table. Each table's own columns and their Arrow types are in ``COLUMNS``; the documents
table also holds each document's metadata columns, after its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, TypedDict

from model_trainer.core.contracts.corpus import SCORE_WORDS, TableName
from model_trainer.core.contracts.model import CharScore, WordScore
from model_trainer.core.inference.words import word_spans

ColumnType = str
"""An Arrow type by name: ``int64``, ``float64``, ``string``, ``list<string>``, ...."""

COLUMNS: Final[dict[TableName, tuple[tuple[str, ColumnType], ...]]] = {
    "documents": (
        ("doc", "int64"),
        ("model", "string"),
        ("chars", "int64"),
        ("tokens", "int64"),
        ("bits", "float64"),
        ("bits_per_char", "float64"),
        ("char_bits", "float64"),
    ),
    "words": (
        ("doc", "int64"),
        ("model", "string"),
        ("word", "int64"),
        ("start", "int64"),
        ("end", "int64"),
        ("text", "string"),
        ("bits", "float64"),
        ("end_bits", "float64"),
    ),
    "characters": (
        ("doc", "int64"),
        ("model", "string"),
        ("pos", "int64"),
        ("char", "string"),
        ("bits", "float64"),
        ("rank", "int64"),
        ("token", "int64"),
        ("word", "int64"),
        ("in_word", "int64"),
    ),
}
TOP_COLUMNS: Final[tuple[tuple[str, ColumnType], ...]] = (
    ("top_chars", "list<string>"),
    ("top_bits", "list<float64>"),
)
SORT_KEYS: Final[dict[TableName, tuple[str, ...]]] = {
    "documents": ("model", "doc"),
    "words": ("model", "doc", "word"),
    "characters": ("model", "doc", "pos"),
}

Columns = dict[str, list[object]]


class Scored(TypedDict):
    """One document scored by one model: what the tables read of ``score``'s outcomes.

    ``bits`` is the canonical tokenization's surprisal; ``char_bits``, ``per_word`` and
    ``per_char`` are there when words or characters were asked for (None otherwise).
    """

    doc: int
    model: str
    text: str
    meta: dict[str, object]
    tokens: int
    bits: float
    char_bits: float | None
    per_word: list[WordScore] | None
    per_char: Sequence[CharScore] | None


def empty_columns(table: TableName, *, top_k: bool) -> Columns:
    """The table's own columns, each with no rows yet."""
    names = [name for name, _ in COLUMNS[table]]
    if table == "characters" and top_k:
        names += [name for name, _ in TOP_COLUMNS]
    return {name: [] for name in names}


def _document(scored: Scored, out: Columns) -> None:
    chars = len(scored["text"])
    row: dict[str, object] = {
        "doc": scored["doc"],
        "model": scored["model"],
        "chars": chars,
        "tokens": scored["tokens"],
        "bits": scored["bits"],
        "bits_per_char": scored["bits"] / chars if chars else math.nan,
        "char_bits": scored["char_bits"],
        **scored["meta"],
    }
    count = len(out["doc"])
    for name in row.keys() - out.keys():
        out[name] = [None] * count
    for name, values in out.items():
        values.append(row.get(name))


def _words(scored: Scored, out: Columns) -> None:
    words = scored["per_word"] or []
    for index, word in enumerate(words):
        out["doc"].append(scored["doc"])
        out["model"].append(scored["model"])
        out["word"].append(index)
        out["start"].append(word["start"])
        out["end"].append(word["end"])
        out["text"].append(word["word"])
        out["bits"].append(word["surprisal_bits"])
        out["end_bits"].append(word["end_bits"])


def _characters(scored: Scored, out: Columns) -> None:
    chars = scored["per_char"] or []
    text = scored["text"]
    word_of = [-1] * len(text)
    in_word = [-1] * len(text)
    for index, (start, end) in enumerate(word_spans(text, SCORE_WORDS)):
        word_of[start:end] = [index] * (end - start)
        in_word[start:end] = range(end - start)
    top = "top_chars" in out
    for pos, char in enumerate(chars):
        out["doc"].append(scored["doc"])
        out["model"].append(scored["model"])
        out["pos"].append(pos)
        out["char"].append(char["char"])
        out["bits"].append(char["surprisal_bits"])
        out["rank"].append(char["rank"])
        out["token"].append(char["token_index"])
        out["word"].append(word_of[pos])
        out["in_word"].append(in_word[pos])
        if top:
            items = char.get("top_k", [])
            out["top_chars"].append([item["text"] for item in items])
            out["top_bits"].append([_bits(item["prob"]) for item in items])


def _bits(prob: float) -> float:
    return -math.log2(prob) if prob > 0 else math.inf


ADD_ROWS: Final = {"documents": _document, "words": _words, "characters": _characters}


def add_rows(table: TableName, scored: Scored, out: Columns) -> None:
    """Append ``scored``'s rows of ``table`` to the columns ``out``."""
    ADD_ROWS[table](scored, out)

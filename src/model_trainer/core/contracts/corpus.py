"""Scoring a corpus: its config (one schema, a doc per field), its outcome, and their checks.

A scoring reads every document of a source with one or more models and writes long tables
(``TABLE_NAMES``) under the runs folder; ``CORPUS_FIELDS`` holds each option's default once,
read by the notebook keywords and the command-line flags alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal, TypedDict, get_args

from model_trainer.core.contracts.model import Precision
from model_trainer.core.contracts.schema import WORD_PATTERN, Field, overlay
from model_trainer.core.errors import ConfigError

TableName = Literal["documents", "words", "characters"]
TABLE_NAMES: Final[tuple[TableName, ...]] = get_args(TableName)
MAX_BATCH_TOKENS: Final = 1 << 24
MAX_WINDOW_DOCS: Final = 1 << 20
MAX_TOP_K: Final = 1 << 20
SCORING_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class CorpusScoreConfig(TypedDict):
    """How to score a corpus: where it is read, what tables are written, how it is batched."""

    name: str | None
    text_field: str
    glob: str
    dataset_split: str
    tables: list[TableName]
    top_k: int | None
    batch_tokens: int
    window_docs: int
    precision: Precision


def _field(name: str, default: str | int | list[str] | None, doc: str) -> Field:
    return {"name": name, "default": default, "doc": doc}


CORPUS_FIELDS: Final[tuple[Field, ...]] = (
    _field(
        "name",
        None,
        "the scoring's folder under the runs folder; an unfinished one of this name "
        "resumes (default: a fresh name)",
    ),
    _field("text_field", "text", "the text column of a .jsonl/.csv/.parquet file or dataset"),
    _field("glob", "**/*.txt", "the files of a corpus folder that are read (recursive)"),
    _field("dataset_split", "train", "the split of a saved DatasetDict to score"),
    _field(
        "tables",
        ["documents", "words"],
        "the tables to write: documents, words, characters",
    ),
    _field("top_k", None, "the characters table also holds the K likeliest next characters"),
    _field(
        "batch_tokens",
        4096,
        "tokens (padding included) in one forward pass: many short documents a batch",
    ),
    _field(
        "window_docs",
        2048,
        "documents read ahead, sorted by length and written as one part of each table",
    ),
    _field("precision", "auto", "arithmetic precision (auto: bf16 on CUDA, fp32 elsewhere)"),
)

CORPUS_DEFAULTS: Final[CorpusScoreConfig] = overlay(
    CorpusScoreConfig, CORPUS_FIELDS, {}, where="defaults"
)
"""The schema's defaults as a config: the one source of every keyword default."""

SCORE_WORDS: Final = WORD_PATTERN
"""Words of the words table: ``mt.score``'s default pattern."""


def corpus_overlay(values: Mapping[str, object], *, where: str = "config") -> CorpusScoreConfig:
    """``values`` over the defaults as a ``CorpusScoreConfig``, unvalidated."""
    return overlay(CorpusScoreConfig, CORPUS_FIELDS, values, where=where)


def _bad(field: str, value: object, rule: str) -> ConfigError:
    return ConfigError("INVALID_CONFIG", f"{field} must be {rule}, got {value!r}")


def _count(field: str, value: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise _bad(field, value, f"an integer in [1, {high:_}]")


def validate_corpus_config(cfg: CorpusScoreConfig) -> None:
    """Check a corpus scoring config.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming the field and the value.
    """
    name = cfg["name"]
    if name is not None and (not SCORING_NAME.fullmatch(name) or ".." in name):
        raise _bad("name", name, "a letter or digit then up to 99 letters, digits, '_', '.', '-'")
    if not cfg["text_field"]:
        raise _bad("text_field", cfg["text_field"], "a column name")
    tables = cfg["tables"]
    known = all(table in TABLE_NAMES for table in tables)
    if not known or "documents" not in tables or len(set(tables)) != len(tables):
        raise _bad("tables", tables, "documents and any of words, characters, each once")
    if cfg["top_k"] is not None:
        _count("top_k", cfg["top_k"], MAX_TOP_K)
        if "characters" not in tables:
            raise _bad("top_k", cfg["top_k"], "None unless the characters table is asked for")
    _count("batch_tokens", cfg["batch_tokens"], MAX_BATCH_TOKENS)
    _count("window_docs", cfg["window_docs"], MAX_WINDOW_DOCS)


class ModelTotals(TypedDict):
    """One model's totals over the documents scored: characters, bits, bits per character."""

    documents: int
    chars: int
    tokens: int
    bits: float
    bits_per_char: float


class CorpusOutcome(TypedDict):
    """A scoring's end: its folder, what it read and each model's totals.

    ``cancelled`` is True after a Stop (the finished parts are kept; scoring again with the
    same name goes on from there).
    """

    name: str
    folder: str
    documents: int
    chars: int
    models: dict[str, ModelTotals]
    tables: list[TableName]
    cancelled: bool

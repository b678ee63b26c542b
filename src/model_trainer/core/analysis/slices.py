"""Slices of a corpus scoring's tables: reading them, and surprisal by group.

Pure functions over the tables a corpus scoring writes (``documents``, ``words`` and
``characters``, long format: one row per model and document, word or character). Columns
are read as numpy arrays; grouping and joining are pandas' (the ``pandas`` extra), reached
through the small ``Table`` Protocol below. Each function returns a new DataFrame; the
spans (the most surprising, where one model beats another) are in ``spans``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Final, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from model_trainer.core.contracts.corpus import TableName
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.extras import require_extra

CharClass = Literal["letter", "digit", "space", "punctuation", "other"]

CHAR_CLASS: Final = "char_class"
"""The group key made from each character's class (``char_class``), characters only."""

_CLASSES: Final[dict[str, CharClass]] = {
    "L": "letter",
    "N": "digit",
    "P": "punctuation",
    "Sm": "punctuation",
    "Sc": "punctuation",
    "Sk": "punctuation",
}
Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Objects = NDArray[np.object_]


class Column(Protocol):
    """A column of a ``pandas.DataFrame``, read as a numpy array."""

    def to_numpy(self) -> object:
        """The column's values."""
        ...


class Grouped(Protocol):
    """A ``DataFrame.groupby`` result, aggregated by named aggregations."""

    def agg(self, **named: tuple[str, str]) -> Table:
        """One row per group, a column per ``name=(column, function)``."""
        ...


class Table(Protocol):
    """The part of a ``pandas.DataFrame`` the slices read and build."""

    @property
    def columns(self) -> Iterable[object]:
        """The column names."""
        ...

    def __len__(self) -> int:
        """The number of rows."""
        ...

    def __getitem__(self, column: str) -> Column:
        """One column."""
        ...

    def to_dict(self, orient: str) -> object:
        """The rows as plain data (``orient="records"``: a list of row dicts)."""
        ...

    def assign(self, **columns: object) -> Table:
        """A copy with the given columns added or replaced."""
        ...

    def merge(self, right: Table, *, on: str, how: str) -> Table:
        """The rows joined with ``right``'s on ``on``."""
        ...

    def groupby(self, by: list[str], *, sort: bool, dropna: bool, as_index: bool) -> Grouped:
        """The rows grouped by the values of ``by``."""
        ...


class CorpusScores(Protocol):
    """A corpus scoring (its running handle, or one reopened): its tables as DataFrames."""

    def frame(self, table: TableName) -> object:
        """The table ``table`` as a ``pandas.DataFrame``."""
        ...


class _TableMaker(Protocol):
    def __call__(self, data: object) -> Table: ...


def _table_maker() -> _TableMaker:
    """``pandas.DataFrame``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when pandas is not installed.
    """
    maker: _TableMaker = require_extra(
        "pandas", extra="pandas", needed_by="slicing a corpus scoring"
    ).DataFrame
    return maker


def as_table(data: object) -> Table:
    """``data`` (a DataFrame, a mapping of columns, a list of rows) as a DataFrame.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when pandas is not installed.
    """
    return _table_maker()(data)


def char_class(char: str) -> CharClass:
    """The class of one character, from its Unicode category.

    ``space`` for whitespace (newlines and tabs too), ``letter`` (L*), ``digit`` (N*),
    ``punctuation`` (P*, and the math, currency and modifier symbols Sm, Sc, Sk such as
    ``+ $ ^``), ``other`` for the rest (marks, emoji and other symbols, controls).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` unless ``char`` is exactly one character.
    """
    if len(char) != 1:
        raise ModelTrainerError("INVALID_CONFIG", f"char_class takes one character, got {char!r}")
    if char.isspace():
        return "space"
    category = unicodedata.category(char)
    return _CLASSES.get(category, _CLASSES.get(category[0], "other"))


def column_names(table: Table) -> list[str]:
    """The names of ``table``'s columns."""
    return [str(name) for name in table.columns]


def read_table(scores: CorpusScores, name: TableName, needed: Sequence[str]) -> Table:
    """The table ``name`` of ``scores``, checked to have the columns ``needed``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the first missing column and the table's.
    """
    table = as_table(scores.frame(name))
    columns = column_names(table)
    missing = [column for column in needed if column not in columns]
    if missing:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"the {name} table has no column {missing[0]!r} (its columns: {', '.join(columns)})",
        )
    return table


def ints(table: Table, column: str) -> Ints:
    """A column as 64-bit integers."""
    return np.asarray(table[column].to_numpy(), dtype=np.int64)


def floats(table: Table, column: str) -> Floats:
    """A column as 64-bit floats (missing values as NaN)."""
    return np.asarray(table[column].to_numpy(), dtype=np.float64)


def objects(table: Table, column: str) -> Objects:
    """A column as Python objects (strings stay strings)."""
    return np.asarray(table[column].to_numpy(), dtype=np.object_)


def model_rows(table: Table, name: TableName, model: str) -> NDArray[np.bool_]:
    """Which rows of the table ``name`` are ``model``'s.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` naming ``model`` and the table's models.
    """
    models = objects(table, "model")
    rows: NDArray[np.bool_] = np.equal(models, model)
    if not rows.any():
        known = ", ".join(repr(str(known)) for known in sorted(set(models.tolist())))
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"model {model!r} is not in the {name} table (its models: {known or 'none'})",
        )
    return rows


def surprisal_by(
    scores: CorpusScores, by: str | Sequence[str], *, level: TableName = "characters"
) -> Table:
    """Surprisal per model and group of the ``level`` table's rows of the scoring ``scores``.

    ``scores`` is ``score_corpus``'s handle or ``open_scores(name)``. ``by`` names columns
    of that table (``in_word``: the position inside the word; ``-1`` outside words),
    ``char_class`` (characters only, see ``char_class``) or metadata columns of the
    documents table (joined on ``doc``). One row per model and group, sorted by them:
    ``count`` rows, ``mean_bits`` (their mean surprisal), ``bits`` (the total), ``chars``
    (the characters they cover) and ``bits_per_char``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for an empty ``by``, ``model`` in it,
            ``char_class`` on another level, or a column in neither table.
    """
    keys = [by] if isinstance(by, str) else list(by)
    if not keys:
        raise ModelTrainerError("INVALID_CONFIG", "by must name at least one column, got none")
    if "model" in keys:
        raise ModelTrainerError(
            "INVALID_CONFIG", "by='model' is not needed: every group is already per model"
        )
    if CHAR_CLASS in keys and level != "characters":
        raise ModelTrainerError(
            "INVALID_CONFIG", f"by={CHAR_CLASS!r} groups characters: use level='characters'"
        )
    spans = {"documents": [], "words": ["start", "end"], "characters": []}[level]
    needed = ["doc", "model", "bits", *spans, *(["char"] if CHAR_CLASS in keys else [])]
    table = read_table(scores, level, needed)
    own = column_names(table)
    metadata = [key for key in keys if key not in own and key != CHAR_CLASS]
    if metadata:
        table = table.merge(_metadata(scores, level, metadata), on="doc", how="left")
    if CHAR_CLASS in keys:
        table = table.assign(char_class=_classes(objects(table, "char")))
    if level == "words":
        table = table.assign(chars=ints(table, "end") - ints(table, "start"))
    elif level == "characters":
        table = table.assign(chars=np.ones(len(table), dtype=np.int64))
    grouped = table.groupby(["model", *keys], sort=True, dropna=False, as_index=False).agg(
        count=("bits", "count"),
        mean_bits=("bits", "mean"),
        bits=("bits", "sum"),
        chars=("chars", "sum"),
    )
    return grouped.assign(bits_per_char=floats(grouped, "bits") / floats(grouped, "chars"))


def _metadata(scores: CorpusScores, level: TableName, keys: list[str]) -> Table:
    """The documents' ``keys`` columns, one row per document, to join on ``doc``."""
    documents = read_table(scores, "documents", ["doc"])
    columns = column_names(documents)
    for key in keys:
        if key not in columns:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"by={key!r} is a column of neither the {level} table nor the documents "
                f"table (the documents' columns: {', '.join(columns)})",
            )
    docs, first = np.unique(ints(documents, "doc"), return_index=True)
    return as_table(
        {"doc": docs, **{key: np.asarray(documents[key].to_numpy())[first] for key in keys}}
    )


def _classes(chars: Objects) -> Objects:
    """The class of each character of ``chars`` (each distinct character classed once)."""
    values: list[object] = chars.tolist()
    classes = {char: char_class(str(char)) for char in set(values)}
    return np.asarray([classes[char] for char in values], dtype=np.object_)

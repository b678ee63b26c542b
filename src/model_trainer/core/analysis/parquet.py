"""Parquet parts of the tables: written whole or not at all, read back as one DataFrame.

A part is written to a temporary name in its table's folder and renamed into place, so a
reader never sees half of one. ``pyarrow`` and ``pandas`` (the ``corpus`` extra) are imported
here, only when a part is written or read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final, Protocol

from model_trainer.core.analysis.tables import (
    COLUMNS,
    SORT_KEYS,
    TOP_COLUMNS,
    Columns,
    empty_columns,
)
from model_trainer.core.contracts.corpus import TableName
from model_trainer.core.extras import require_extra

EXTRA: Final = "corpus"
PART_SUFFIX: Final = ".parquet"
TEMP_SUFFIX: Final = ".tmp"


class TableFrame(Protocol):
    """The part of a ``pandas.DataFrame`` the kit reads of a table."""

    def __len__(self) -> int:
        """The number of rows."""
        ...

    def to_dict(self, orient: str) -> object:
        """The frame as plain data (``orient="records"``: a list of row dicts)."""
        ...

    def sort_values(self, by: list[str], kind: str) -> TableFrame:
        """The rows sorted by the columns ``by``."""
        ...

    def reset_index(self, drop: bool) -> TableFrame:
        """The frame numbered 0, 1, ... again."""
        ...


class _Arrow(Protocol):
    def array(self, values: list[object], type: object = None) -> object: ...

    def int64(self) -> object: ...

    def float64(self) -> object: ...

    def string(self) -> object: ...

    def list_(self, item: object) -> object: ...


class _ArrowTable(Protocol):
    def to_pandas(self) -> TableFrame: ...


class _ArrowTables(Protocol):
    def from_arrays(self, arrays: list[object], names: list[str]) -> _ArrowTable: ...


class _Parquet(Protocol):
    def write_table(self, table: _ArrowTable, where: str) -> None: ...

    def read_table(self, source: str) -> _ArrowTable: ...


class _Pandas(Protocol):
    def concat(self, frames: list[TableFrame], ignore_index: bool) -> TableFrame: ...


class _FrameMaker(Protocol):
    def __call__(self, columns: list[str]) -> TableFrame: ...


def _needed(module: str) -> ModuleType:
    return require_extra(module, extra=EXTRA, needed_by="corpus scoring's tables")


def _arrow_type(arrow: _Arrow, name: str) -> object:
    scalars = {"int64": arrow.int64, "float64": arrow.float64, "string": arrow.string}
    if name.startswith("list<"):
        return arrow.list_(scalars[name[5:-1]]())
    return scalars[name]()


def write_part(path: Path, table: TableName, columns: Columns) -> Path:
    """Write ``columns`` as the part ``path`` under a temporary name; returns that name.

    The table's own columns take their fixed types; metadata columns the types Arrow
    infers. ``commit_parts`` renames the part into place.
    """
    arrow: _Arrow = _needed("pyarrow")
    tables: _ArrowTables = _needed("pyarrow").Table
    parquet: _Parquet = _needed("pyarrow.parquet")
    types = dict((*COLUMNS[table], *TOP_COLUMNS))
    arrays = [
        arrow.array(values, type=_arrow_type(arrow, types[name]) if name in types else None)
        for name, values in columns.items()
    ]
    temporary = path.with_name(path.name + TEMP_SUFFIX)
    parquet.write_table(tables.from_arrays(arrays, names=list(columns)), str(temporary))
    return temporary


def commit_parts(temporaries: Sequence[Path]) -> None:
    """Rename each temporary part into place (its name without ``TEMP_SUFFIX``)."""
    for temporary in temporaries:
        os.replace(temporary, temporary.with_name(temporary.name[: -len(TEMP_SUFFIX)]))


def read_frame(table: TableName, parts: Sequence[Path], *, top_k: bool) -> TableFrame:
    """The rows of ``parts`` as one DataFrame, sorted by model, document, then word or position."""
    pandas: _Pandas = _needed("pandas")
    if not parts:
        empty: _FrameMaker = _needed("pandas").DataFrame
        return empty(columns=list(empty_columns(table, top_k=top_k)))
    parquet: _Parquet = _needed("pyarrow.parquet")
    frames = [parquet.read_table(str(part)).to_pandas() for part in parts]
    whole = pandas.concat(frames, ignore_index=True)
    return whole.sort_values(by=list(SORT_KEYS[table]), kind="stable").reset_index(drop=True)

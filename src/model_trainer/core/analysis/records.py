"""A corpus read as records: each document's text and the other columns of its row.

A table source (``.jsonl``, ``.csv``, ``.parquet``, a saved ``datasets`` folder) gives each row
as a record: the string at ``text_field`` and every other column as metadata. Any other
source (a text file, a folder, the builtin corpus) gives its documents without metadata.
Records are streamed: nothing is held but the row being read.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol, TypedDict

from model_trainer.core.data.sources import (
    DATASET_MARKERS,
    ROWS,
    TextTable,
    open_source,
    pick_split,
    read_pieces,
    require_extra,
    require_utf8,
)
from model_trainer.core.errors import ModelTrainerError

RESERVED: Final = ("doc", "model", "chars", "tokens", "bits", "bits_per_char", "char_bits")
"""The documents table's own columns: no metadata column may take one of these names."""


class Record(TypedDict):
    """One document: its text and the other columns of its row."""

    text: str
    meta: dict[str, object]


Records = Callable[[], Iterator[Record]]
"""Starts a fresh pass over a corpus's records each call."""


class _Column(Protocol):
    def to_pylist(self) -> list[object]: ...


class _Batch(Protocol):
    @property
    def schema(self) -> _Schema: ...

    def column(self, index: int) -> _Column: ...


class _Schema(Protocol):
    @property
    def names(self) -> list[str]: ...


class _ParquetFile(Protocol):
    @property
    def schema_arrow(self) -> _Schema: ...

    def iter_batches(self, batch_size: int) -> Iterator[_Batch]: ...


def _record(row: Mapping[str, object], text_field: str, where: str) -> Record:
    if text_field not in row:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"text_field {text_field!r} is not a column of {where}; its columns: "
            f"{', '.join(repr(str(column)) for column in row)}",
        )
    text = row[text_field]
    if not isinstance(text, str):
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"text_field {text_field!r}: {where} holds a {type(text).__name__}, not a string",
        )
    meta = {str(key): value for key, value in row.items() if key != text_field}
    taken = sorted(set(meta) & set(RESERVED))
    if taken:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{where}: metadata column {taken[0]!r} takes the name of a documents table "
            f"column ({', '.join(RESERVED)}); rename it",
        )
    return {"text": require_utf8(text, where), "meta": meta}


def _lines(path: Path) -> Iterator[str]:
    rest = ""
    for piece in read_pieces(path, "source"):
        *lines, rest = (rest + piece).split("\n")
        yield from (line + "\n" for line in lines)
    if rest:
        yield rest


def _jsonl(path: Path, text_field: str) -> Iterator[Record]:
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        where = f"line {number} of {str(path)!r}"
        try:
            row: object = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ModelTrainerError("INVALID_CONFIG", f"{where} is not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ModelTrainerError("INVALID_CONFIG", f"{where} is not a JSON object")
        yield _record(row, text_field, where)


def _csv(path: Path, text_field: str) -> Iterator[Record]:
    csv.field_size_limit(sys.maxsize)
    for number, row in enumerate(csv.DictReader(_lines(path)), start=1):
        yield _record(row, text_field, f"row {number} of {str(path)!r}")


def _parquet(path: Path, text_field: str) -> Iterator[Record]:
    parquet = require_extra("pyarrow.parquet")
    table: _ParquetFile = parquet.ParquetFile(str(path))
    index = 0
    for batch in table.iter_batches(batch_size=ROWS):
        names = batch.schema.names
        columns = [batch.column(number).to_pylist() for number in range(len(names))]
        for values in zip(*columns, strict=True):
            yield _record(dict(zip(names, values, strict=True)), text_field, f"row {index}")
            index += 1


def table_records(table: TextTable, text_field: str) -> Iterator[Record]:
    """One record per row of a ``datasets.Dataset``, every column read."""
    index = 0
    for batch in table.iter(batch_size=ROWS):
        names = list(batch)
        for values in zip(*(batch[name] for name in names), strict=True):
            yield _record(dict(zip(names, values, strict=True)), text_field, f"row {index}")
            index += 1


def _datasets(root: Path, text_field: str, split: str) -> Iterator[Record]:
    loaded: object = require_extra("datasets").load_from_disk(str(root))
    yield from table_records(pick_split(loaded, split, "dataset_split", str(root)), text_field)


def _plain(path: str, glob: str, split: str) -> Iterator[Record]:
    source = open_source(path, field="source", text_field="text", glob=glob, split=split)
    for document in source.documents():
        yield {"text": "".join(document), "meta": {}}


def path_records(path: str, *, text_field: str, glob: str, split: str) -> Records:
    """The records of the source at ``path`` (anything ``corpus_path`` names).

    Raises:
        ModelTrainerError: ``CORPUS_NOT_FOUND`` (nothing there); ``INVALID_CONFIG`` (as the
            records are read: a missing ``text_field``, a value that is not a string, a
            metadata column named like a documents column).
    """
    root = Path(path)
    if root.is_dir() and any((root / marker).is_file() for marker in DATASET_MARKERS):
        return lambda: _datasets(root, text_field, split)
    readers = {".jsonl": _jsonl, ".csv": _csv, ".parquet": _parquet}
    reader = readers.get(root.suffix.lower()) if root.is_file() else None
    if reader is None:
        open_source(path, field="source", text_field=text_field, glob=glob, split=split)
        return lambda: _plain(path, glob, split)
    found = reader
    return lambda: found(root, text_field)


def memory_records(corpus: Sequence[object] | TextTable, text_field: str) -> Iterable[Record]:
    """The records of a corpus held in memory: a list of texts or a ``datasets.Dataset``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a document that is not a str.
    """
    if isinstance(corpus, TextTable):
        return table_records(corpus, text_field)
    records: list[Record] = []
    for index, text in enumerate(corpus):
        if not isinstance(text, str):
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"source: document {index} is a {type(text).__name__}, not a str",
            )
        records.append({"text": require_utf8(text, f"source: document {index}"), "meta": {}})
    return records

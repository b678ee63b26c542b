"""Corpus sources: what a path names, read as a stream of documents, with a fingerprint.

A path is one of:

- ``builtin:python-docs``: the builtin corpus, one document;
- a text file of any other suffix: one document;
- a folder: one document per file matching ``glob`` (recursive, sorted by relative path;
  names starting with a dot, such as ``.ipynb_checkpoints``, are skipped);
- a ``.jsonl`` file: one document per line, the string at ``text_field`` of its object;
- a ``.csv`` file: one document per row, its ``text_field`` column (the first row names
  the columns);
- a ``.parquet`` file: one document per row of its ``text_field`` column;
- a folder written by ``datasets``' ``save_to_disk``: one document per row of its
  ``text_field`` column (from the split ``split`` when it holds several).

A document is an iterable of text pieces: a file's blocks of strict UTF-8, or a row's one
string, so a file is never held whole as one string. The fingerprint is taken without
reading the text: a sha256 of the kind, the field names and each file's absolute path, size
and modification time (of the text itself for the builtin corpus).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Final, Literal, Protocol, runtime_checkable

from model_trainer.core.contracts.validators import check_glob
from model_trainer.core.data.corpus import BUILTIN_PREFIX, builtin, require_regular
from model_trainer.core.errors import ModelTrainerError

Document = Iterable[str]
BLOCK_BYTES: Final = 1 << 23
ROWS: Final = 1024
DATA_EXTRA: Final = "pip install 'model-trainer[data]'"
DATASET_MARKERS: Final = ("dataset_info.json", "dataset_dict.json")
SURROGATE: Final = re.compile("[\ud800-\udfff]")
"""A lone surrogate: a code point a str can hold and UTF-8 cannot encode."""


SourceOption = Literal["glob", "text_field", "split"]
"""An option of a source that only some kinds of source read."""


@runtime_checkable
class TextTable(Protocol):
    """The part of a ``datasets.Dataset`` a source reads."""

    @property
    def column_names(self) -> list[str]:
        """The dataset's column names."""
        ...

    def select_columns(self, column_names: list[str]) -> TextTable:
        """The dataset restricted to ``column_names``."""
        ...

    def iter(self, batch_size: int) -> Iterator[Mapping[str, list[object]]]:
        """Batches of rows, as columns of values."""
        ...


class _Column(Protocol):
    def to_pylist(self) -> list[object]: ...


class _Batch(Protocol):
    def column(self, index: int) -> _Column: ...


class _Schema(Protocol):
    @property
    def names(self) -> list[str]: ...


class _ParquetFile(Protocol):
    @property
    def schema_arrow(self) -> _Schema: ...

    def iter_batches(self, batch_size: int, columns: list[str]) -> Iterator[_Batch]: ...


class Source:
    """A corpus: the name it was given by, its fingerprint, and its documents on demand."""

    def __init__(
        self,
        *,
        name: str,
        fingerprint: str,
        read: Callable[[], Iterator[Document]],
        reads: tuple[SourceOption, ...] = (),
    ):
        """Wrap ``read``, which starts a fresh pass over the documents each call.

        ``reads``: the options this kind of source reads (``glob``, ``text_field``, ``split``).
        """
        self.name = name
        self.fingerprint = fingerprint
        self._read = read
        self.reads = reads

    def documents(self) -> Iterator[Document]:
        """Each document of the source in order, read afresh."""
        return self._read()


def require_extra(module: str) -> ModuleType:
    """Import ``module``, a package of the ``data`` extra.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the package and the extra to install.
    """
    if importlib.util.find_spec(module.split(".", maxsplit=1)[0]) is None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"this corpus needs the optional package {module.split('.', maxsplit=1)[0]!r}, "
            f"which is not installed: {DATA_EXTRA}",
        )
    return importlib.import_module(module)


def digest(parts: object) -> str:
    """The first 16 hex characters of the sha256 of ``parts`` as JSON."""
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:16]


def _files_print(kind: str, files: list[Path], extra: str) -> str:
    stats = [(str(file.resolve()), file.stat().st_size, file.stat().st_mtime_ns) for file in files]
    return digest([kind, extra, stats])


def read_pieces(path: Path, field: str) -> Iterator[str]:
    """The text of the file at ``path`` in pieces of at most ``BLOCK_BYTES`` bytes.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``field``, the path and the byte offset
            of the first byte that is not UTF-8.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    with path.open("rb") as handle:
        while True:
            block = handle.read(BLOCK_BYTES)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise ModelTrainerError(
                    "INVALID_CONFIG",
                    f"{field}: file {str(path)!r} is not UTF-8: invalid byte "
                    f"0x{exc.object[exc.start]:02x} at byte offset {offset - pending + exc.start}",
                ) from exc
            offset += len(block)
            if text:
                yield text
            if not block:
                return


def _lines(pieces: Iterable[str]) -> Iterator[str]:
    """The lines of the text ``pieces`` hold, each with its line end."""
    rest = ""
    for piece in pieces:
        *lines, rest = (rest + piece).split("\n")
        yield from (line + "\n" for line in lines)
    if rest:
        yield rest


def require_utf8(text: str, where: str) -> str:
    """``text`` (the document ``where`` names) when UTF-8 can encode it.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``where``, the first lone surrogate and
            its character offset.
    """
    found = SURROGATE.search(text)
    if found is not None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{where} has a lone surrogate U+{ord(found.group()):04X} at character offset "
            f"{found.start()}, which UTF-8 cannot encode; remove it or replace it "
            f"(e.g. text.encode('utf-8', 'replace').decode('utf-8'))",
        )
    return text


def _string(value: object, text_field: str, where: str, name: str) -> str:
    if not isinstance(value, str):
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"text_field {text_field!r}: {where} of {name!r} holds a "
            f"{type(value).__name__}, not a string; fix that row or pick another text_field",
        )
    return require_utf8(value, f"{where} of {name!r}")


def _require_column(text_field: str, columns: Iterable[str], name: str) -> None:
    names = list(columns)
    if text_field not in names:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"text_field {text_field!r} is not a column of {name!r}; its columns: "
            f"{', '.join(repr(column) for column in names)}",
        )


def _jsonl_rows(path: Path, field: str, text_field: str) -> Iterator[Document]:
    name = str(path)
    for number, line in enumerate(_lines(read_pieces(path, field)), start=1):
        if not line.strip():
            continue
        try:
            row: object = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ModelTrainerError(
                "INVALID_CONFIG", f"{field}: line {number} of {name!r} is not JSON ({exc.msg})"
            ) from exc
        if not isinstance(row, dict):
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"{field}: line {number} of {name!r} holds a JSON {type(row).__name__}, "
                f"not an object",
            )
        _require_column(text_field, row, f"line {number} of {name}")
        yield [_string(row[text_field], text_field, f"line {number}", name)]


def _csv_rows(path: Path, field: str, text_field: str) -> Iterator[Document]:
    name = str(path)
    csv.field_size_limit(sys.maxsize)
    # strict: a quote left open is an error, not a field that swallows the rest of the file.
    reader = csv.DictReader(_lines(read_pieces(path, field)), strict=True)
    line = 1
    try:
        _require_column(text_field, reader.fieldnames or [], name)
        line = reader.line_num + 1
        for number, row in enumerate(reader, start=1):
            yield [_string(row[text_field], text_field, f"row {number}", name)]
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{field}: {name!r} is not valid CSV in the record from line {line}: {exc} "
            f"(a quote opened there and never closed would take in every row after it); "
            f"close the quote, or double a quote inside a quoted field",
        ) from exc


def _parquet_rows(path: Path, field: str, text_field: str) -> Iterator[Document]:
    arrow = require_extra("pyarrow")
    parquet = require_extra("pyarrow.parquet")
    name = str(path)
    try:
        table: _ParquetFile = parquet.ParquetFile(name)
    except arrow.ArrowException as exc:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"{field}: {name!r} is not a Parquet file: {exc}"
        ) from exc
    _require_column(text_field, table.schema_arrow.names, name)
    index = 0
    for batch in table.iter_batches(batch_size=ROWS, columns=[text_field]):
        for value in batch.column(0).to_pylist():
            yield [_string(value, text_field, f"row index {index}", name)]
            index += 1


def table_rows(table: TextTable, text_field: str, name: str) -> Iterator[Document]:
    """One document per row of ``table``'s ``text_field`` column.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a missing column or a row whose value is
            not a string or has a lone surrogate (its row index named).
    """
    _require_column(text_field, table.column_names, name)
    index = 0
    for batch in table.select_columns([text_field]).iter(batch_size=ROWS):
        for value in batch[text_field]:
            yield [_string(value, text_field, f"row index {index}", name)]
            index += 1


def pick_split(loaded: object, split: str, field: str, name: str) -> TextTable:
    """The split ``split`` of a ``datasets.DatasetDict``, or ``loaded`` itself otherwise.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``field`` and the splits there are.
    """
    if isinstance(loaded, Mapping):
        if split not in loaded:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"{field}: {split!r} is not a split of {name!r}; its splits: "
                f"{', '.join(repr(str(key)) for key in loaded)}",
            )
        return require_table(loaded[split], field)
    return require_table(loaded, field)


def require_table(value: object, field: str) -> TextTable:
    """``value`` as a ``TextTable`` (a ``datasets.Dataset``).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when ``value`` has no columns to read.
    """
    if not isinstance(value, TextTable):
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{field}: a {type(value).__name__} is not a corpus; pass a str, a list of str, "
            f"a datasets.Dataset or a path",
        )
    return value


def _dataset_rows(root: Path, field: str, text_field: str, split: str) -> Iterator[Document]:
    datasets = require_extra("datasets")
    arrow = require_extra("pyarrow")
    try:
        loaded: object = datasets.load_from_disk(str(root))
    except (ValueError, TypeError, KeyError, OSError, arrow.ArrowException) as exc:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{field}: the saved datasets folder {str(root)!r} is damaged and cannot be read "
            f"({type(exc).__name__}: {exc}); save it again with save_to_disk",
        ) from exc
    yield from table_rows(pick_split(loaded, split, field, str(root)), text_field, str(root))


def _folder_files(root: Path, field: str, glob: str) -> list[Path]:
    check_glob(glob)
    found = sorted(
        (file.relative_to(root).as_posix(), file)
        for file in root.glob(glob)
        if file.is_file() and not any(part.startswith(".") for part in file.relative_to(root).parts)
    )
    if not found:
        raise ModelTrainerError(
            "CORPUS_NOT_FOUND",
            f"{field}: folder {str(root)!r} holds no files matching glob={glob!r}",
        )
    return [file for _, file in found]


def open_source(path: str, *, field: str, text_field: str, glob: str, split: str) -> Source:
    """The source at ``path`` (given as the config field ``field``); reads no text yet.

    Raises:
        ModelTrainerError: ``CORPUS_NOT_FOUND`` (nothing at ``path``, an empty path, a folder
            without matching files, an unknown builtin name); ``INVALID_CONFIG`` (a FIFO, a
            device file or a socket).
    """
    if path.startswith(BUILTIN_PREFIX):
        text = builtin(path, field)
        return Source(name=path, fingerprint=digest([path, text]), read=lambda: iter([[text]]))
    if not path:
        raise ModelTrainerError("CORPUS_NOT_FOUND", f"{field}: empty path")
    root = Path(path)
    require_regular(root, field)
    if root.is_dir() and any((root / marker).is_file() for marker in DATASET_MARKERS):
        files = sorted(file for file in root.rglob("*") if file.is_file())
        splits = (root / DATASET_MARKERS[1]).is_file()
        return Source(
            name=path,
            fingerprint=_files_print("datasets", files, f"{text_field}\n{split}"),
            read=lambda: _dataset_rows(root, field, text_field, split),
            reads=("text_field", "split") if splits else ("text_field",),
        )
    if root.is_dir():
        files = _folder_files(root, field, glob)
        return Source(
            name=path,
            fingerprint=_files_print("folder", files, glob),
            read=lambda: (read_pieces(file, field) for file in files),
            reads=("glob",),
        )
    if not root.is_file():
        raise ModelTrainerError("CORPUS_NOT_FOUND", f"{field}: nothing at {path!r}")
    rows = {".jsonl": _jsonl_rows, ".csv": _csv_rows, ".parquet": _parquet_rows}.get(
        root.suffix.lower()
    )
    if rows is None:
        return Source(
            name=path,
            fingerprint=_files_print("text", [root], ""),
            read=lambda: iter([read_pieces(root, field)]),
        )
    reader = rows
    return Source(
        name=path,
        fingerprint=_files_print(root.suffix.lower(), [root], text_field),
        read=lambda: reader(root, field, text_field),
        reads=("text_field",),
    )

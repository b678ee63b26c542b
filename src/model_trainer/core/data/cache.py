"""The token cache: each part of a split encoded once into a file of ids, memory-mapped.

Under ``<runs_dir>/.cache/``:

- ``sources/<sha>.jsonl``: in-memory corpora, saved by content (``data/memory.py``);
- ``<key>/split.json``: the split of the corpus and validation source ``<key>`` names;
- ``<key>/tokenizer-<kind>-<vocab_size>.json``: the tokenizer trained on its training part;
- ``<key>/<tokenizer_id>/<part>.bin``: the part's ids, ``uint16`` when the vocabulary fits,
  else ``uint32``, documents joined by the end-of-text id;
- ``<key>/<tokenizer_id>/<part>.json``: its ``TokenFile`` record, written after the ids;
- ``<key>/.used``: stamped at each use, for ``evict.trim_cache``, which keeps the cache
  within ``settings["cache_max_mb"]``.

Every file is written under a temporary name and renamed into place. Builders of one folder
hold an exclusive lock on its ``.lock`` file, so of two processes building the same cache
one builds and the other waits, then reuses. An ids file without a record, or whose size
disagrees with its record (a crash, a truncated copy), is rebuilt and never read.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final, Literal, Protocol, TypedDict, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.tokenizer import Encoder
from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.data.split import Part
from model_trainer.core.faults import writing
from model_trainer.core.tokenizers.bpe import safe_pieces

CACHE_DIR: Final = ".cache"
LOCK_FILE: Final = ".lock"
SNIPPET_CHARS: Final = 1000
UINT16_IDS: Final = 1 << 16
IdsDtype = Literal["uint16", "uint32"]
Progress = Callable[[int], None]
"""Called with the characters done so far."""


class TokenFile(TypedDict):
    """The record of one ids file: what it holds, written once the ids are in place."""

    dtype: IdsDtype
    num_tokens: int
    num_chars: int
    num_documents: int
    snippet: str


@runtime_checkable
class ArrayEncoder(Protocol):
    """A tokenizer that encodes straight into an array of ids."""

    def encode_array(self, text: str) -> npt.NDArray[np.uint32]:
        """The ids of ``text``, ``(tokens,)``."""
        ...


def cache_root(settings: Settings) -> Path:
    """The cache folder of the runs folder ``settings["runs_dir"]``."""
    return Path(settings["runs_dir"]) / CACHE_DIR


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` (made when missing) while the block runs."""
    with writing(folder / LOCK_FILE):
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / LOCK_FILE).open("a")
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def temporary(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this process and thread."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` under a temporary name, then rename it into place."""
    scratch = temporary(path)
    with writing(path):
        scratch.write_text(text, encoding="utf-8")
        os.replace(scratch, path)


def ids_dtype(vocab_size: int) -> IdsDtype:
    """The smallest unsigned dtype that holds every id of ``vocab_size``."""
    return "uint16" if vocab_size <= UINT16_IDS else "uint32"


def encode_ids(encoder: Encoder, text: str) -> npt.NDArray[np.uint32]:
    """The ids of ``text``: straight into an array when ``encoder`` can, else from a list."""
    if isinstance(encoder, ArrayEncoder):
        return encoder.encode_array(text)
    return np.asarray(encoder.encode(text), dtype=np.uint32)


def encode_part(
    part: Part, encoder: Encoder, *, eos_id: int, dtype: IdsDtype, out: BinaryIO, progress: Progress
) -> TokenFile:
    """Write the ids of ``part`` to ``out``, ``eos_id`` between documents; return the record.

    Empty documents add nothing. Each document is encoded in pieces cut where the ids do not
    depend on the cut, so no document is held whole.
    """
    eos = np.asarray([eos_id], dtype=dtype).tobytes()
    tokens = chars = documents = 0
    snippet = ""
    for document in part.documents():
        started = False
        for piece in safe_pieces(document):
            if not started and documents:
                out.write(eos)
                tokens += 1
            started = True
            ids = encode_ids(encoder, piece).astype(dtype, copy=False)
            out.write(ids.data)
            tokens += ids.size
            chars += len(piece)
            if len(snippet) < SNIPPET_CHARS:
                snippet += piece[: SNIPPET_CHARS - len(snippet)]
            progress(chars)
        documents += started
    return {
        "dtype": dtype,
        "num_tokens": tokens,
        "num_chars": chars,
        "num_documents": documents,
        "snippet": snippet,
    }


def _record(ids: Path, record: Path) -> TokenFile | None:
    """The record of ``ids`` when both are in place and agree on the size, else None."""
    if not (record.is_file() and ids.is_file()):
        return None
    found = read_typed(record, TokenFile, where=str(record), code="INTERNAL_ERROR")
    expected = found["num_tokens"] * np.dtype(found["dtype"]).itemsize
    return found if ids.stat().st_size == expected else None


def open_ids(path: Path, record: TokenFile) -> Tensor:
    """The ids file at ``path`` memory-mapped as a 1-D tensor ``(N,)`` of its dtype.

    The map is copy-on-write: nothing is read until a window is gathered, and nothing is
    ever written back.
    """
    array = np.memmap(path, dtype=record["dtype"], mode="c", shape=(record["num_tokens"],))
    return torch.from_numpy(array)


def cached_ids(
    folder: Path, name: str, build: Callable[[BinaryIO], TokenFile]
) -> tuple[Tensor, TokenFile, bool]:
    """The ids ``<folder>/<name>.bin``, built by ``build`` unless whole; True when built."""
    ids = folder / f"{name}.bin"
    record = folder / f"{name}.json"
    with locked(folder):
        found = _record(ids, record)
        built = found is None
        if found is None:
            record.unlink(missing_ok=True)
            scratch = temporary(ids)
            try:
                with writing(ids), scratch.open("wb") as out:
                    found = build(out)
                with writing(ids):
                    os.replace(scratch, ids)
            finally:
                scratch.unlink(missing_ok=True)
            write_atomic(record, json.dumps(found))
    return open_ids(ids, found), found, built

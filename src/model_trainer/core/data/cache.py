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
one builds and the other waits, then reuses; a build removes the temporary files a killed
one left. An ids file without a record is built again. One whose record cannot be read or
disagrees with it or with the tokenizer (dtype, size, characters, an id outside the
vocabulary, checked once per mapping by a vectorised max) is discarded and rebuilt
(``heal.healed``).
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
from model_trainer.core.data.heal import (
    DAMAGED,
    ENTRY,
    Repairs,
    clear_scratch,
    damaged,
    discard,
    healed,
)
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
def locked(folder: Path, repairs: Repairs) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` (made when missing) while the block runs.

    A file in the place of ``folder``, or anything but a file in the place of its lock file,
    is damage to the cache: it is removed first and told to ``repairs``.
    """
    lock = folder / LOCK_FILE
    if folder.exists() and not folder.is_dir():
        discard(folder)
        repairs.add(f"{ENTRY} {str(folder)!r}: a file where a cache folder belongs; replaced")
    with writing(lock):
        folder.mkdir(parents=True, exist_ok=True)
        if lock.exists() and not lock.is_file():
            discard(lock)
            repairs.add(f"{ENTRY} {str(lock)!r}: not a file; replaced")
        handle = lock.open("a")
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


def read_ids(
    ids: Path, record: Path, *, vocab_size: int, num_chars: int
) -> tuple[Tensor, TokenFile]:
    """The ids file ``ids`` as a 1-D tensor ``(N,)`` of its dtype, and its record ``record``.

    The file is memory-mapped copy-on-write: after one vectorised pass for the largest id,
    nothing is read until a window is gathered, and nothing is ever written back. The record
    must be a ``TokenFile`` of the dtype ``vocab_size`` needs and of ``num_chars``
    characters (its part's), the file exactly its size, and every id below ``vocab_size``.

    Raises:
        ModelTrainerError: ``ARTIFACT_DOWNLOAD_FAILED`` naming the file and what is wrong.
    """
    if not record.is_file():
        raise damaged(record, "not a file")
    found = read_typed(record, TokenFile, where=f"{ENTRY} {str(record)!r}", code=DAMAGED)
    dtype = ids_dtype(vocab_size)
    if found["dtype"] != dtype:
        raise damaged(
            record, f"dtype {found['dtype']!r}, but a vocabulary of {vocab_size} is kept as {dtype}"
        )
    if found["num_chars"] != num_chars:
        raise damaged(
            record, f"num_chars {found['num_chars']}, but its part of the split has {num_chars}"
        )
    expected = found["num_tokens"] * np.dtype(dtype).itemsize
    size = ids.stat().st_size if ids.is_file() else None
    if found["num_tokens"] < 0 or size != expected:
        held = "no file" if size is None else f"{size} bytes"
        raise damaged(ids, f"{held}, but its record says {found['num_tokens']} {dtype} ids")
    array = np.memmap(ids, dtype=dtype, mode="c", shape=(found["num_tokens"],))
    top = int(array.max())  # one vectorised pass over the map
    if top >= vocab_size:
        raise damaged(ids, f"holds the id {top}, outside the vocabulary of {vocab_size}")
    return torch.from_numpy(array), found


def cached_ids(
    folder: Path,
    name: str,
    build: Callable[[BinaryIO], TokenFile],
    *,
    vocab_size: int,
    num_chars: int,
    repairs: Repairs,
) -> tuple[Tensor, TokenFile, bool]:
    """The ids ``<folder>/<name>.bin`` (see ``read_ids``), built by ``build`` unless whole.

    Returns the ids ``(N,)``, their record, and True when built by this call. A damaged entry
    is rebuilt once and told to ``repairs``.

    Raises:
        ModelTrainerError: the errors of ``heal.healed`` and of ``build``.
    """
    ids = folder / f"{name}.bin"
    record = folder / f"{name}.json"

    def make() -> None:
        discard(record)
        discard(ids)
        scratch = temporary(ids)
        try:
            with writing(ids), scratch.open("wb") as out:
                found = build(out)
            with writing(ids):
                os.replace(scratch, ids)
        finally:
            scratch.unlink(missing_ok=True)
        write_atomic(record, json.dumps(found))

    with locked(folder, repairs):
        clear_scratch(folder)
        (tensor, found), built = healed(
            ids,
            present=record.exists(),
            read=lambda: read_ids(ids, record, vocab_size=vocab_size, num_chars=num_chars),
            build=make,
            repairs=repairs,
        )
    return tensor, found, built

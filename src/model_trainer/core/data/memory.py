"""In-memory corpora: a string, a list of documents or a ``datasets.Dataset``, saved by content.

A notebook's corpus lives in the kernel; a run must outlive it (``resume`` and ``evaluate``
after a restart). ``save_corpus`` writes the documents once, as JSON lines
``{text_field: document}``, to ``<runs_dir>/.cache/sources/<sha>.jsonl``, named by the
sha256 of what it wrote, and returns that path for the run's ``corpus_path``: the manifest
records the corpus by its content fingerprint, and the same corpus is saved once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.schema import TRAIN_DEFAULTS
from model_trainer.core.data.cache import cache_root, temporary
from model_trainer.core.data.sources import TextTable, pick_split, require_utf8, table_rows
from model_trainer.core.errors import ModelTrainerError

Corpus = str | Sequence[str] | TextTable | Mapping[str, TextTable]
"""A corpus held in memory: a text, documents, a ``datasets.Dataset`` or ``DatasetDict``."""

SOURCES_DIR = "sources"
PATH_CHARS = 4096
"""The longest ``str`` corpus that is checked for being a file's path (a path's limit)."""
PATH_FIELDS: Final = {"corpus": "corpus_path", "val_corpus": "val_path"}
"""The config field that takes a path in place of each in-memory corpus."""


def refuse_two_corpora(
    corpus: object, corpus_path: str, val_corpus: object, val_path: str | None
) -> None:
    """Refuse a corpus given both in memory and as a path (one would be ignored).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming both and saying to keep one.
    """
    pairs = (
        ("corpus", corpus, corpus_path, TRAIN_DEFAULTS["corpus_path"]),
        ("val_corpus", val_corpus, val_path, TRAIN_DEFAULTS["val_path"]),
    )
    for field, held, path, default in pairs:
        path_field = PATH_FIELDS[field]
        if held is not None and path != default:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"{field} and {path_field}={path!r} are both given, and a run reads one corpus: "
                f"keep {field} (the text in memory) or {path_field} (a file or folder), not both",
            )


def _not_a_path(text: str, field: str) -> str:
    if len(text) <= PATH_CHARS and "\n" not in text and os.path.exists(text):
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{field} is a str that names the path {text!r}, and {field}= takes the text "
            f"itself: pass the path as {PATH_FIELDS.get(field, 'corpus_path')}={text!r}, or "
            f"the file's text as {field}",
        )
    return text


def _documents(corpus: object, field: str, text_field: str, split: str) -> Iterator[str]:
    if isinstance(corpus, str):
        yield require_utf8(_not_a_path(corpus, field), f"{field} (a str)")
    elif isinstance(corpus, list | tuple):
        for index, document in enumerate(corpus):
            if not isinstance(document, str):
                raise ModelTrainerError(
                    "INVALID_CONFIG",
                    f"{field}: document {index} is a {type(document).__name__}, not a str",
                )
            yield require_utf8(document, f"{field}: document {index}")
    else:
        table = pick_split(corpus, split, f"{field} split", field)
        for document in table_rows(table, text_field, field):
            yield from document


def save_corpus(
    corpus: object, settings: Settings, *, field: str, text_field: str, split: str
) -> str:
    """Save the in-memory ``corpus`` (given as ``field``) by content; return its path.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for an object that is no corpus, a document
            that is not a str or has a lone surrogate, a missing ``text_field`` column or split.
    """
    folder = cache_root(settings) / SOURCES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    scratch = temporary(folder / "corpus.jsonl")
    sha = hashlib.sha256()
    text = False
    try:
        with scratch.open("wb") as out:
            for document in _documents(corpus, field, text_field, split):
                line = (json.dumps({text_field: document}) + "\n").encode("utf-8")
                sha.update(line)
                out.write(line)
                text = text or document.strip() != ""
        if not text:
            raise ModelTrainerError(
                "CORPUS_EMPTY",
                f"{field} holds no text (no documents, or only empty or blank ones); give "
                f"it at least one document with text",
            )
        path = folder / f"{sha.hexdigest()[:32]}.jsonl"
        if not path.is_file():
            os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return str(Path(path).resolve())

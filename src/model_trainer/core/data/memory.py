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

from model_trainer.core.config.settings import Settings
from model_trainer.core.data.cache import cache_root, temporary
from model_trainer.core.data.sources import TextTable, pick_split, require_utf8, table_rows
from model_trainer.core.errors import ModelTrainerError

Corpus = str | Sequence[str] | TextTable | Mapping[str, TextTable]
"""A corpus held in memory: a text, documents, a ``datasets.Dataset`` or ``DatasetDict``."""

SOURCES_DIR = "sources"


def _documents(corpus: object, field: str, text_field: str, split: str) -> Iterator[str]:
    if isinstance(corpus, str):
        yield require_utf8(corpus, f"{field} (a str)")
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
    try:
        with scratch.open("wb") as out:
            for document in _documents(corpus, field, text_field, split):
                line = (json.dumps({text_field: document}) + "\n").encode("utf-8")
                sha.update(line)
                out.write(line)
        path = folder / f"{sha.hexdigest()[:32]}.jsonl"
        if not path.is_file():
            os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return str(Path(path).resolve())

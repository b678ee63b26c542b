"""Tokenizer files: read one JSON file of either kind, or train a new tokenizer.

Two file formats share the ``.json`` suffix and are told apart by their top-level keys:

- ``{"kind": "char", "version": 1, "chars": [...]}``: a ``CharTokenizer``;
- the Hugging Face ``tokenizers`` format (a ``"model"`` key): a ``BPETokenizer``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from model_trainer.core.contracts.tokenizer import TokenizerHandle, TokenizerKind
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.tokenizers.files import parse_tokenizer_json, read_tokenizer_text
from model_trainer.core.tokenizers.pretrained import load_pretrained_tokenizer

TOKENIZER_FILE = "tokenizer.json"
"""Where a model folder keeps a ``char`` or ``bpe`` tokenizer."""


def load_tokenizer(path: str) -> TokenizerHandle:
    """Load the tokenizer saved at ``path``, telling the kind from the file's JSON.

    Raises:
        ModelTrainerError: ``TOKENIZER_NOT_FOUND`` for a missing file;
            ``TOKENIZER_LOAD_FAILED`` for a file of neither format or a corrupt one.
    """
    text = read_tokenizer_text(path)
    obj = parse_tokenizer_json(text, path)
    if "kind" in obj:
        return CharTokenizer.from_json(obj, path)
    if "model" in obj:
        return BPETokenizer.from_json(text, obj, path)
    raise ModelTrainerError(
        "TOKENIZER_LOAD_FAILED",
        f"tokenizer_path: file {path!r} is neither a char tokenizer (no 'kind' key) "
        "nor a tokenizers file (no 'model' key)",
    )


def read_model_tokenizer(folder: str, kind: TokenizerKind) -> TokenizerHandle:
    """The tokenizer of the model folder ``folder``, of ``kind``.

    A ``pretrained`` model keeps its own fast tokenizer's files (``folder`` may also be a
    model id in the local Hugging Face cache); the others keep ``tokenizer.json``.

    Raises:
        ModelTrainerError: the errors of ``load_pretrained_tokenizer`` or ``load_tokenizer``.
    """
    if kind == "pretrained":
        return load_pretrained_tokenizer(folder)
    return load_tokenizer(str(Path(folder) / TOKENIZER_FILE))


def train_tokenizer(kind: TokenizerKind, text: str, vocab_size: int) -> TokenizerHandle:
    """Build a tokenizer of ``kind`` from ``text``.

    A char tokenizer's vocabulary is the set of characters of ``text``, so ``vocab_size``
    only applies to ``bpe``. (A run's tokenizer is trained once per corpus and settings and
    then read from the runs folder's cache: ``core/data/prepare.py``.)

    Raises:
        ModelTrainerError: ``TOKENIZER_TRAIN_FAILED`` when ``text`` is empty, or for ``bpe``
            when ``vocab_size`` is below 258.
    """
    return train_tokenizer_pieces(kind, [text], vocab_size)


def train_tokenizer_pieces(
    kind: TokenizerKind, pieces: Iterable[str], vocab_size: int
) -> TokenizerHandle:
    """Build a tokenizer of ``kind`` from a stream of text ``pieces``, read once.

    Raises:
        ModelTrainerError: as ``train_tokenizer``.
    """
    if kind == "char":
        return CharTokenizer.from_pieces(pieces)
    return BPETokenizer.train_pieces(pieces, vocab_size)

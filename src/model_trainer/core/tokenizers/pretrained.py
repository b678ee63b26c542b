"""A pretrained model's own fast tokenizer as a ``TokenizerHandle``, with exact spans.

The Hugging Face tokenizer's ``tokenizers`` backend encodes (no special tokens added: the
start token is the scorer's), and its offsets are turned into spans that tile the text
(``tile_offsets``): byte-level BPE (GPT-2, Pythia, Llama 3), SentencePiece-style BPE with
byte fallback (Llama 2, Mistral), a prefix space or ``▁`` the tokenizer inserts, offsets
trimmed of white space, several tokens sharing one multi-byte character.

Typed surface of ``transformers`` used here: ``AutoTokenizer.from_pretrained`` (read through
``HFTokenizer``), ``is_fast``, ``backend_tokenizer``, the special ids and ``save_pretrained``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from tokenizers import Tokenizer

from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing

TOKENIZER_FILES: Final = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")


class HFTokenizer(Protocol):
    """What is read of a ``transformers`` tokenizer."""

    @property
    def is_fast(self) -> bool:
        """Whether a ``tokenizers`` backend (with offsets) does the work."""
        ...

    @property
    def bos_token_id(self) -> int | None:
        """Start-of-text id, if any."""
        ...

    @property
    def eos_token_id(self) -> int | None:
        """End-of-text id, if any."""
        ...

    @property
    def pad_token_id(self) -> int | None:
        """Padding id, if any."""
        ...

    @property
    def unk_token_id(self) -> int | None:
        """Unknown-token id, if any."""
        ...

    def save_pretrained(self, save_directory: str) -> object:
        """Write the tokenizer files into ``save_directory``."""
        ...


@runtime_checkable
class _Fast(Protocol):
    @property
    def backend_tokenizer(self) -> Tokenizer: ...


def tile_offsets(offsets: list[tuple[int, int]], num_chars: int) -> list[tuple[int, int]]:
    """Spans that tile ``[0, num_chars)`` in order, from a tokenizer's ``offsets``.

    A token's span starts where the previous one ended (so a gap, e.g. a space trimmed off
    the offsets, goes to the token after it) and ends at its offset's end, but not past the
    next token's start: a character shared by several tokens (the bytes of one multi-byte
    character) belongs to the last of them, the earlier ones get empty spans. The last span
    ends at ``num_chars``.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for index, (_, end) in enumerate(offsets):
        limit = offsets[index + 1][0] if index + 1 < len(offsets) else num_chars
        stop = num_chars if index + 1 == len(offsets) else max(pos, min(end, limit))
        spans.append((pos, stop))
        pos = stop
    return spans


class PretrainedTokenizer:
    """A ``TokenizerHandle`` over a pretrained model's fast tokenizer."""

    def __init__(self, hf: HFTokenizer, source: str) -> None:
        """Wrap ``hf``, loaded from ``source``.

        Raises:
            ModelTrainerError: ``TOKENIZER_LOAD_FAILED`` for a slow tokenizer (no offsets) or
                one without an end-of-text token.
        """
        if not hf.is_fast or not isinstance(hf, _Fast):
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer: {source!r} has a slow tokenizer ({type(hf).__name__}) without "
                "character offsets; save a fast one (tokenizer.json) beside the model, e.g. "
                "AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(folder)",
            )
        eos = hf.eos_token_id
        if eos is None:
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer: {source!r} has no eos_token; set one in tokenizer_config.json",
            )
        self._hf = hf
        self._backend: Tokenizer = hf.backend_tokenizer
        self._json = self._backend.to_str()
        self._id = hashlib.sha256(self._json.encode("utf-8")).hexdigest()[:12]
        self._eos = eos
        self._bos = eos if hf.bos_token_id is None else hf.bos_token_id
        self._pad = eos if hf.pad_token_id is None else hf.pad_token_id
        # Decoders drop a word marker's space at the start of a text: one id is decoded
        # after an anchor, whose own text is then cut off.
        self._anchor = self._backend.encode("a", add_special_tokens=False).ids
        self._anchor_text = self.decode(self._anchor)

    @property
    def hf(self) -> HFTokenizer:
        """The ``transformers`` tokenizer, for ``save_pretrained``."""
        return self._hf

    @property
    def kind(self) -> TokenizerKind:
        """``pretrained``."""
        return "pretrained"

    @property
    def tokenizer_id(self) -> str:
        """First 12 hex characters of the sha256 of the ``tokenizers`` JSON."""
        return self._id

    @property
    def vocab_size(self) -> int:
        """Number of ids, added tokens included."""
        return self._backend.get_vocab_size(with_added_tokens=True)

    @property
    def eos_id(self) -> int:
        """End-of-text id."""
        return self._eos

    @property
    def bos_id(self) -> int:
        """Start-of-text id: the model's BOS, else its EOS."""
        return self._bos

    @property
    def pad_id(self) -> int:
        """Padding id: the model's pad token, else its EOS."""
        return self._pad

    @property
    def unk_id(self) -> int | None:
        """The unknown token's id, if the tokenizer has one."""
        return self._hf.unk_token_id

    def encode(self, text: str) -> list[int]:
        """Return the ids of ``text``, without added special tokens."""
        return self._backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """Return the text of ``ids`` (special tokens as their markers)."""
        return self._backend.decode(ids, skip_special_tokens=False)

    def encode_offsets(self, text: str) -> list[tuple[int, int, int]]:
        """Return ``(id, start, end)`` per token, the spans tiling ``text`` (``tile_offsets``)."""
        encoding = self._backend.encode(text, add_special_tokens=False)
        spans = tile_offsets(encoding.offsets, len(text))
        return [
            (token_id, start, end)
            for token_id, (start, end) in zip(encoding.ids, spans, strict=True)
        ]

    def id_to_text(self, token_id: int) -> str:
        """Return the text of one id (a partial character as U+FFFD), its leading space kept."""
        return self.decode([*self._anchor, token_id])[len(self._anchor_text) :]

    def save(self, path: str) -> None:
        """Write the ``tokenizers`` JSON to ``path``."""
        with writing(path):
            Path(path).write_text(self._json, encoding="utf-8")


def pretrained_folder(source: str, *, local_files_only: bool = True) -> Path:
    """The local folder of ``source``: a folder as it is, or a model id's cached snapshot.

    With ``local_files_only`` False a model id not in the cache is downloaded (config, JSON,
    safetensors and tokenizer files only); ``HF_HUB_OFFLINE=1`` still forbids it.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for a path that is a file, or a model id that
            is neither in the local cache nor (when allowed) downloadable.
    """
    path = Path(source)
    if path.is_dir():
        return path
    if path.exists():
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"source: {source!r} is a file; give the folder that holds config.json",
        )
    if local_files_only:
        return _cached_snapshot(source)
    return _download(source)


def _cached_snapshot(source: str) -> Path:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        found: object = try_to_load_from_cache(source, "config.json")
    except HFValidationError as exc:
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"source: {source!r} is neither a folder nor a model id ({exc})",
        ) from exc
    if not isinstance(found, str):
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"source: {source!r} is not a folder and not in the local Hugging Face cache; "
            "download it once with load_model(source, local_files_only=False), or give the "
            "folder it was saved to",
        )
    return Path(found).parent


def _download(source: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    patterns = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt"]
    try:
        folder: str = snapshot_download(source, allow_patterns=patterns)
    except (OSError, HFValidationError) as exc:
        raise ModelTrainerError(
            "MODEL_NOT_FOUND", f"source: cannot download {source!r} ({exc})"
        ) from exc
    return Path(folder)


def load_pretrained_tokenizer(source: str, *, local_files_only: bool = True) -> PretrainedTokenizer:
    """The fast tokenizer of the model at ``source`` (a folder or a model id, see above).

    Raises:
        ModelTrainerError: the errors of ``pretrained_folder``; ``TOKENIZER_LOAD_FAILED``
            when the folder has no tokenizer ``transformers`` can read, or a slow one.
    """
    from transformers import AutoTokenizer

    folder = pretrained_folder(source, local_files_only=local_files_only)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelTrainerError(
            "TOKENIZER_LOAD_FAILED",
            f"tokenizer: {str(folder)!r} holds no tokenizer file ({', '.join(TOKENIZER_FILES)}); "
            "save the model's tokenizer beside it with tokenizer.save_pretrained(folder)",
        )
    try:
        hf: HFTokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelTrainerError(
            "TOKENIZER_LOAD_FAILED",
            f"tokenizer: cannot load the tokenizer of {source!r} from {str(folder)!r} ({exc}); "
            "save it beside the model with tokenizer.save_pretrained(folder)",
        ) from exc
    return PretrainedTokenizer(hf, source)

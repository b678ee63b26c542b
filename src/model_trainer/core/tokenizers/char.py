"""Character tokenizer: one id per character, with pad, end-of-text and unknown ids.

Ids 0, 1 and 2 are ``<pad>``, ``<|endoftext|>`` and ``<unk>``; the sorted characters of the
training text follow from id 3. A character outside the vocabulary encodes to ``<unk>`` (it
is never dropped, so ids and characters stay one to one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing
from model_trainer.core.tokenizers.files import parse_tokenizer_json, read_tokenizer_text

PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
SPECIAL_TEXTS = ("<pad>", "<|endoftext|>", "<unk>")
REPLACEMENT = "\ufffd"
CODE_POINTS = 0x110000


def code_points(text: str) -> npt.NDArray[np.uint32]:
    """The code point of each character of ``text`` (lone surrogates included), ``(chars,)``."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class CharTokenizer:
    """A ``TokenizerHandle`` over single characters; build it with ``from_text`` or ``load``."""

    def __init__(self, chars: list[str]) -> None:
        """Wrap a sorted list of distinct characters (use ``from_text`` to build one)."""
        self._chars = chars
        self._ids = {char: index + len(SPECIAL_TEXTS) for index, char in enumerate(chars)}
        self._pieces = ["", "", REPLACEMENT, *chars]
        self._json = json.dumps({"kind": "char", "version": 1, "chars": chars})
        self._id = hashlib.sha256(self._json.encode("utf-8")).hexdigest()[:12]
        # The id of every code point, <unk> for those outside the vocabulary.
        self._table = np.full(CODE_POINTS, UNK_ID, dtype=np.uint32)  # (code points,)
        self._table[code_points("".join(chars))] = np.arange(
            len(SPECIAL_TEXTS), len(self._pieces), dtype=np.uint32
        )

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """Build the vocabulary from the distinct characters of ``text``.

        Raises:
            ModelTrainerError: ``TOKENIZER_TRAIN_FAILED`` when ``text`` is empty.
        """
        return cls.from_pieces([text])

    @classmethod
    def from_pieces(cls, pieces: Iterable[str]) -> CharTokenizer:
        """Build the vocabulary from the distinct characters of the text ``pieces`` hold.

        Each piece is counted in one vectorised pass, so a corpus streams through in pieces.

        Raises:
            ModelTrainerError: ``TOKENIZER_TRAIN_FAILED`` when the pieces hold no character.
        """
        seen = np.zeros(CODE_POINTS, dtype=np.bool_)  # (code points,)
        for piece in pieces:
            seen[code_points(piece)] = True
        if not seen.any():
            raise ModelTrainerError(
                "TOKENIZER_TRAIN_FAILED", "char tokenizer: text is empty, no characters to learn"
            )
        return cls([chr(point) for point in np.flatnonzero(seen).tolist()])

    @classmethod
    def load(cls, path: str) -> CharTokenizer:
        """Read a tokenizer written by ``save``.

        Raises:
            ModelTrainerError: ``TOKENIZER_NOT_FOUND`` for a missing file,
                ``TOKENIZER_LOAD_FAILED`` for a file that is not a char tokenizer.
        """
        return cls.from_json(parse_tokenizer_json(read_tokenizer_text(path), path), path)

    @classmethod
    def from_json(cls, obj: dict[str, object], path: str) -> CharTokenizer:
        """Build a tokenizer from the parsed JSON of the file at ``path``.

        Raises:
            ModelTrainerError: ``TOKENIZER_LOAD_FAILED`` naming ``path`` when ``obj`` is not
                ``{"kind": "char", "version": 1, "chars": [sorted distinct characters]}``.
        """
        if obj.get("kind") != "char" or obj.get("version") != 1:
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer_path: file {path!r} has kind={obj.get('kind')!r} "
                f"version={obj.get('version')!r}, expected kind='char' version=1",
            )
        raw = obj.get("chars")
        chars = [item for item in raw if isinstance(item, str)] if isinstance(raw, list) else []
        if (
            not isinstance(raw, list)
            or not chars
            or len(chars) != len(raw)
            or any(len(char) != 1 for char in chars)
            or chars != sorted(set(chars))
        ):
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer_path: file {path!r} field 'chars' must be a non-empty sorted list "
                f"of distinct single characters, got {str(raw)[:80]}",
            )
        return cls(chars)

    @property
    def kind(self) -> TokenizerKind:
        """``char``."""
        return "char"

    @property
    def tokenizer_id(self) -> str:
        """First 12 hex characters of the sha256 of the saved JSON."""
        return self._id

    @property
    def vocab_size(self) -> int:
        """Number of ids: the three special ids plus one per character."""
        return len(self._pieces)

    @property
    def eos_id(self) -> int:
        """Id of ``<|endoftext|>``."""
        return EOS_ID

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>``."""
        return PAD_ID

    @property
    def unk_id(self) -> int | None:
        """Id every character outside the vocabulary encodes to."""
        return UNK_ID

    @property
    def chars(self) -> list[str]:
        """The vocabulary's characters, in id order (a copy)."""
        return list(self._chars)

    def encode(self, text: str) -> list[int]:
        """Return one id per character of ``text`` (``unk_id`` for unknown characters)."""
        ids: list[int] = self.encode_array(text).tolist()
        return ids

    def encode_array(self, text: str) -> npt.NDArray[np.uint32]:
        """The ids of ``text`` as one array ``(chars,)``, by a vectorised table lookup."""
        return self._table[code_points(text)]

    def decode(self, ids: list[int]) -> str:
        """Return the text of ``ids``: ``<unk>`` as U+FFFD, ``<pad>`` and end-of-text as nothing.

        Raises:
            ModelTrainerError: ``MODEL_INCOMPATIBLE`` for an id outside the vocabulary.
        """
        self._check_ids(ids)
        pieces = self._pieces
        return "".join([pieces[token_id] for token_id in ids])

    def encode_offsets(self, text: str) -> list[tuple[int, int, int]]:
        """Return ``(id, i, i + 1)`` for each character ``i`` of ``text``."""
        return [(token_id, index, index + 1) for index, token_id in enumerate(self.encode(text))]

    def id_to_text(self, token_id: int) -> str:
        """Return the character of ``token_id``, or the marker of a special id.

        Raises:
            ModelTrainerError: ``MODEL_INCOMPATIBLE`` for an id outside the vocabulary.
        """
        self._check_ids([token_id])
        if token_id < len(SPECIAL_TEXTS):
            return SPECIAL_TEXTS[token_id]
        return self._pieces[token_id]

    def count_unknown(self, text: str) -> int:
        """Return how many characters of ``text`` are outside the vocabulary."""
        ids = self._ids
        return sum(1 for char in text if char not in ids)

    def save(self, path: str) -> None:
        """Write ``{"kind": "char", "version": 1, "chars": [...]}`` to ``path``."""
        with writing(path):
            Path(path).write_text(self._json, encoding="utf-8")

    def _check_ids(self, ids: list[int]) -> None:
        if ids and (min(ids) < 0 or max(ids) >= len(self._pieces)):
            bad = next(token_id for token_id in ids if not 0 <= token_id < len(self._pieces))
            raise ModelTrainerError(
                "MODEL_INCOMPATIBLE",
                f"token id {bad} is outside the char tokenizer's vocabulary "
                f"[0, {len(self._pieces)})",
            )

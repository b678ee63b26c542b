"""Byte-level BPE tokenizer on Hugging Face ``tokenizers``.

The tokenizer is GPT-2's recipe: a ``ByteLevel`` pre-tokenizer (``add_prefix_space=False``, so
``decode(encode(t)) == t`` for every text), a ``ByteLevel`` decoder, no normalizer, and two
special tokens, ``<|endoftext|>`` and ``<pad>``. Text that happens to contain a special
token's marker is encoded as ordinary bytes (``encode_special_tokens``), so no text can
produce a special id.

Each id's byte string is built once, at load, from the byte-level alphabet; ``decode``,
``id_to_text`` and the character spans of ``encode_offsets`` all come from those bytes.

Typed surface of ``tokenizers`` used here: ``Tokenizer(BPE())``, the ``pre_tokenizer`` and
``decoder`` setters, ``BpeTrainer``, ``train_from_iterator``, ``encode_batch`` (``Encoding.ids``),
``get_vocab``, ``get_added_tokens_decoder``, ``to_str`` and ``from_str``. The stubs type the
``model``, ``pre_tokenizer``, ``decoder`` and ``normalizer`` getters as ``Any``, so this module
never reads them: the shape of a loaded file is checked on its JSON instead.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from model_trainer.core.config.resources import available_memory
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing
from model_trainer.core.tokenizers.files import parse_tokenizer_json, read_tokenizer_text

EOS_TEXT = "<|endoftext|>"
PAD_TEXT = "<pad>"
MIN_VOCAB_SIZE = 256 + 2
CHUNK_CHARS = 4096

# A line end or a space right after a printable ASCII character (not a space) always starts
# a new pre-token, so text cut there encodes exactly as the whole text does.
CUT_BEFORE = "\n\r "
_CUT = re.compile(r"(?<=[!-~])[\n\r ]")


@cache
def byte_alphabet() -> dict[str, int]:
    """Return the byte-level alphabet: the printable character standing for each byte value.

    This is GPT-2's ``bytes_to_unicode`` table, inverted: printable Latin-1 bytes stand for
    themselves and the other 68 bytes for the characters from U+0100 up, in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table = {chr(byte): byte for byte in printable}
    others = [byte for byte in range(256) if byte not in set(printable)]
    table.update({chr(256 + index): byte for index, byte in enumerate(others)})
    return table


def chunk_text(text: str, min_chars: int) -> list[str]:
    """Cut ``text`` into pieces of at least ``min_chars`` characters (the last may be shorter).

    Cuts fall only before a line end or a space that follows a printable ASCII character,
    where a pre-token always ends, so encoding the pieces apart gives the ids of the whole
    text.
    """
    pieces: list[str] = []
    start = 0
    while (match := _CUT.search(text, start + max(min_chars, 1))) is not None:
        pieces.append(text[start : match.start()])
        start = match.start()
    pieces.append(text[start:])
    return pieces


def last_cut(text: str) -> int:
    """The last place ``chunk_text`` may cut ``text`` at (0 when there is none)."""
    end = len(text)
    while (at := max(text.rfind(char, 0, end) for char in CUT_BEFORE)) > 0:
        if "!" <= text[at - 1] <= "~":
            return at
        end = at
    return 0


def safe_pieces(pieces: Iterable[str]) -> Iterator[str]:
    """Re-cut a stream of text pieces at the places ``chunk_text`` cuts at.

    Encoding the pieces this yields one by one gives the ids of their whole text; a piece
    without such a place is carried over and joined to the next.
    """
    carry = ""
    for piece in pieces:
        text = carry + piece
        cut = last_cut(text)
        if cut:
            yield text[:cut]
        carry = text[cut:]
    if carry:
        yield carry


def _check_encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"text has a lone surrogate U+{ord(text[exc.start]):04X} at index {exc.start}, "
            "which has no UTF-8 bytes",
        ) from exc


def _checked_chunks(pieces: Iterable[str]) -> Iterator[str]:
    """The non-empty pieces cut into ``CHUNK_CHARS`` chunks, each checked for surrogates."""
    for piece in pieces:
        _check_encodable(piece)
        yield from (chunk for chunk in chunk_text(piece, CHUNK_CHARS) if chunk)


TRAIN_BYTES_PER_ID: Final = 256
"""The memory training a byte-level BPE takes for each id it may learn, at most: its trainer
reserves a few bytes an id up front (2 measured), and each merge adds its string, its pair
and the counts it touches; taken generously, as a vocabulary that does not fit aborts the
process inside ``tokenizers``."""


def require_memory_for(vocab_size: int, available: int | None) -> None:
    """Refuse training a ``vocab_size`` vocabulary that would not fit in ``available`` bytes.

    ``available`` None (a platform that cannot tell) lets it train.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the size, what it would need and what
            there is.
    """
    need = vocab_size * TRAIN_BYTES_PER_ID
    if available is not None and need > available:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"vocab_size={vocab_size:_} would need about {need // 2**20:_} MiB to train its "
            f"tokenizer, and this process has {available // 2**20:_} MiB free; lower "
            f"vocab_size (it takes up to {TRAIN_BYTES_PER_ID} bytes an id) or free memory",
        )


class BPETokenizer:
    """A ``TokenizerHandle`` over byte-level BPE; build it with ``train`` or ``load``."""

    def __init__(self, tokenizer: Tokenizer, json_text: str, path: str) -> None:
        """Wrap a byte-level BPE ``Tokenizer`` whose saved form is ``json_text``.

        Raises:
            ModelTrainerError: ``TOKENIZER_LOAD_FAILED`` naming ``path`` when the vocabulary
                lacks a special token, has gaps in its ids, or holds a token outside the
                byte-level alphabet.
        """
        tokenizer.encode_special_tokens = True
        self._tokenizer = tokenizer
        self._json = json_text
        self._id = hashlib.sha256(json_text.encode("utf-8")).hexdigest()[:12]
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        specials = {
            token_id: added.content
            for token_id, added in tokenizer.get_added_tokens_decoder().items()
        }
        if EOS_TEXT not in vocab or PAD_TEXT not in vocab:
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer_path: file {path!r} lacks the special tokens "
                f"{EOS_TEXT!r} and {PAD_TEXT!r}",
            )
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer_path: file {path!r} has token ids that are not 0..{len(vocab) - 1}",
            )
        alphabet = byte_alphabet()
        texts = [""] * len(vocab)
        for token, token_id in vocab.items():
            texts[token_id] = token
        pieces: list[bytes] = []
        for token_id, token in enumerate(texts):
            if token_id in specials:
                pieces.append(b"")
            elif all(char in alphabet for char in token):
                pieces.append(bytes(alphabet[char] for char in token))
            else:
                raise ModelTrainerError(
                    "TOKENIZER_LOAD_FAILED",
                    f"tokenizer_path: file {path!r} token {token!r} (id {token_id}) "
                    "is not byte-level",
                )
        self._bytes = pieces
        self._widths = np.asarray([len(piece) for piece in pieces], dtype=np.int64)  # (vocab,)
        self._specials = specials
        self._eos_id = vocab[EOS_TEXT]
        self._pad_id = vocab[PAD_TEXT]

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        """Learn up to ``vocab_size`` ids (256 bytes, 2 specials, the rest merges) from ``text``.

        Raises:
            ModelTrainerError: ``TOKENIZER_TRAIN_FAILED`` when ``vocab_size`` is below 258 or
                ``text`` is empty; ``INVALID_CONFIG`` when ``text`` has a lone surrogate.
        """
        return cls.train_pieces([text], vocab_size)

    @classmethod
    def train_pieces(cls, pieces: Iterable[str], vocab_size: int) -> BPETokenizer:
        """Learn up to ``vocab_size`` ids from a stream of text ``pieces`` (as ``train``).

        The pieces are read once, as ``tokenizers`` asks for them, so a corpus of any size
        streams through.

        Raises:
            ModelTrainerError: as ``train``, for pieces that hold no text.
        """
        if vocab_size < MIN_VOCAB_SIZE:
            raise ModelTrainerError(
                "TOKENIZER_TRAIN_FAILED",
                f"vocab_size={vocab_size} is below {MIN_VOCAB_SIZE} "
                "(256 byte ids plus 2 special ids)",
            )
        require_memory_for(vocab_size, available_memory())
        chunks = _checked_chunks(pieces)
        first = next(chunks, None)
        if first is None:
            raise ModelTrainerError(
                "TOKENIZER_TRAIN_FAILED", "bpe tokenizer: text is empty, nothing to learn"
            )
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[EOS_TEXT, PAD_TEXT],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(itertools.chain([first], chunks), trainer=trainer)
        return cls(tokenizer, tokenizer.to_str(), "<trained>")

    @classmethod
    def load(cls, path: str) -> BPETokenizer:
        """Read a tokenizer written by ``save`` (a ``tokenizers`` JSON file).

        Raises:
            ModelTrainerError: ``TOKENIZER_NOT_FOUND`` for a missing file,
                ``TOKENIZER_LOAD_FAILED`` for a file that is not a byte-level BPE tokenizer.
        """
        text = read_tokenizer_text(path)
        return cls.from_json(text, parse_tokenizer_json(text, path), path)

    @classmethod
    def from_json(cls, text: str, obj: dict[str, object], path: str) -> BPETokenizer:
        """Build a tokenizer from the file text ``text`` (parsed: ``obj``) read from ``path``.

        Raises:
            ModelTrainerError: ``TOKENIZER_LOAD_FAILED`` naming ``path`` when the file is not a
                byte-level BPE without a normalizer and without a prefix space, or when
                ``tokenizers`` cannot read it.
        """
        model = obj.get("model")
        pre = obj.get("pre_tokenizer")
        shape_ok = (
            isinstance(model, dict)
            and model.get("type") == "BPE"
            and isinstance(pre, dict)
            and pre.get("type") == "ByteLevel"
            and pre.get("add_prefix_space") is False
            and obj.get("normalizer") is None
        )
        if not shape_ok:
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer_path: file {path!r} is not a byte-level BPE tokenizer "
                "(model BPE, pre_tokenizer ByteLevel with add_prefix_space false, no normalizer)",
            )
        try:
            tokenizer = Tokenizer.from_str(text)
        except Exception as exc:
            raise ModelTrainerError(
                "TOKENIZER_LOAD_FAILED",
                f"tokenizer_path: file {path!r} cannot be read by tokenizers: {exc}",
            ) from exc
        return cls(tokenizer, text, path)

    @property
    def kind(self) -> TokenizerKind:
        """``bpe``."""
        return "bpe"

    @property
    def tokenizer_id(self) -> str:
        """First 12 hex characters of the sha256 of the saved JSON."""
        return self._id

    @property
    def vocab_size(self) -> int:
        """Number of ids, the two special ids included."""
        return len(self._bytes)

    @property
    def eos_id(self) -> int:
        """Id of ``<|endoftext|>``."""
        return self._eos_id

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>``."""
        return self._pad_id

    @property
    def unk_id(self) -> int | None:
        """None: every byte has an id, so no text is unknown."""
        return None

    def encode(self, text: str) -> list[int]:
        """Return the ids of ``text`` (long text is encoded in parallel chunks, same ids).

        Raises:
            ModelTrainerError: ``INVALID_CONFIG`` when ``text`` has a lone surrogate.
        """
        _check_encodable(text)
        encodings = self._tokenizer.encode_batch(
            chunk_text(text, CHUNK_CHARS), add_special_tokens=False
        )
        return [token_id for encoding in encodings for token_id in encoding.ids]

    def encode_array(self, text: str) -> npt.NDArray[np.uint32]:
        """The ids of ``text`` as one array ``(tokens,)``: ``encode`` without a list of ints.

        Raises:
            ModelTrainerError: ``INVALID_CONFIG`` when ``text`` has a lone surrogate.
        """
        _check_encodable(text)
        encodings = self._tokenizer.encode_batch(
            chunk_text(text, CHUNK_CHARS), add_special_tokens=False
        )
        ids = itertools.chain.from_iterable(encoding.ids for encoding in encodings)
        return np.fromiter(ids, dtype=np.uint32)

    def decode(self, ids: list[int]) -> str:
        """Return the text of ``ids``; special ids add nothing, broken UTF-8 becomes U+FFFD.

        Raises:
            ModelTrainerError: ``MODEL_INCOMPATIBLE`` for an id outside the vocabulary.
        """
        self._check_ids(ids)
        pieces = self._bytes
        return b"".join([pieces[token_id] for token_id in ids]).decode("utf-8", errors="replace")

    def encode_offsets(self, text: str) -> list[tuple[int, int, int]]:
        """Return ``(id, start, end)`` per token: the character span the token covers.

        A character belongs to the token holding its last UTF-8 byte. The spans are in order
        and tile ``[0, len(text))`` exactly; a token that ends no character (the leading bytes
        of a character split across tokens) gets an empty span (``start == end``).

        Raises:
            ModelTrainerError: ``INVALID_CONFIG`` when ``text`` has a lone surrogate.
        """
        ids = self.encode(text)
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (chars,)
        widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)  # (chars,)
        char_ends = np.cumsum(widths)  # (chars,)
        byte_ends = np.cumsum(self._widths[np.asarray(ids, dtype=np.int64)])  # (tokens,)
        ends: list[int] = np.searchsorted(char_ends, byte_ends, side="right").tolist()
        starts = [0, *ends][:-1]
        return list(zip(ids, starts, ends, strict=True))

    def id_to_text(self, token_id: int) -> str:
        """Return the token's text: its bytes as UTF-8 (U+FFFD for a partial character).

        Special ids give their marker (``<|endoftext|>``, ``<pad>``).

        Raises:
            ModelTrainerError: ``MODEL_INCOMPATIBLE`` for an id outside the vocabulary.
        """
        self._check_ids([token_id])
        special = self._specials.get(token_id)
        if special is not None:
            return special
        return self._bytes[token_id].decode("utf-8", errors="replace")

    def save(self, path: str) -> None:
        """Write the ``tokenizers`` JSON (``Tokenizer.to_str()``) to ``path``."""
        with writing(path):
            Path(path).write_text(self._json, encoding="utf-8")

    def _check_ids(self, ids: list[int]) -> None:
        size = len(self._bytes)
        if ids and (min(ids) < 0 or max(ids) >= size):
            bad = next(token_id for token_id in ids if not 0 <= token_id < size)
            raise ModelTrainerError(
                "MODEL_INCOMPATIBLE",
                f"token id {bad} is outside the bpe tokenizer's vocabulary [0, {size})",
            )

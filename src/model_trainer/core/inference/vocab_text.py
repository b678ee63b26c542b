"""Each token's text as bytes, and the vocabulary sorted by it, once per tokenizer.

A token model's distribution over character strings is read from the masses of the tokens
whose text begins with given bytes. Sorted by their bytes, the tokens that begin with a
prefix form one contiguous range of the order, so the mass of a prefix is a difference of
two entries of a cumulative sum over the sorted probabilities.

A token's bytes come from the ``tokenizers`` JSON the tokenizer saves: byte-level BPE
(GPT-2's byte alphabet) or BPE with byte fallback (``<0xNN>`` tokens, ``▁`` for a space).
Added and special tokens never count as text: they have no bytes and no place in the order.
A character tokenizer's tokens are its characters, read with ``id_to_text``.
"""

from __future__ import annotations

import bisect
import json
import tempfile
from pathlib import Path
from typing import TypedDict

import torch
from torch import Tensor

from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.bpe import byte_alphabet

SPACE_MARK = "▁"


class VocabText(TypedDict):
    """The text side of a vocabulary: bytes per id, and the order sorted by them."""

    token_bytes: list[bytes | None]  # by id; None for added and special tokens
    lengths: Tensor  # (V,) int64 each id's number of bytes, -1 where it has none
    sorted_bytes: list[bytes]  # the text tokens' bytes, sorted
    order: Tensor  # (S,) int64 the id at each place of the sorted order
    exact: dict[bytes, list[int]]  # bytes -> the ids spelling exactly them
    spans: dict[bytes, list[tuple[int, int]]]  # a text -> its prefixes' ranges, as first asked


def _decoder_types(node: object) -> set[str]:
    """The ``type`` of every decoder in a (possibly nested) decoder JSON object."""
    if isinstance(node, list):
        return set().union(*(_decoder_types(item) for item in node))
    if not isinstance(node, dict):
        return set()
    found = {str(node.get("type"))}
    return found | _decoder_types(node.get("decoders"))


def _piece_bytes(token: str, *, byte_level: bool) -> bytes | None:
    if byte_level:
        alphabet = byte_alphabet()
        if not all(char in alphabet for char in token):
            return None
        return bytes(alphabet[char] for char in token)
    if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
        return bytes([int(token[3:5], 16)])
    return token.replace(SPACE_MARK, " ").encode("utf-8")


def texts_from_json(text: str, source: str) -> list[bytes | None]:
    """Each id's bytes from a ``tokenizers`` JSON (``None`` for added and special tokens).

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a BPE with a
            byte-level or byte-fallback decoder, whose tokens' bytes are known.
    """
    obj = json.loads(text)
    model = obj.get("model") or {}
    types = _decoder_types(obj.get("decoder"))
    byte_level = "ByteLevel" in types
    if model.get("type") != "BPE" or not (byte_level or "ByteFallback" in types):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"tokenizer: {source!r} is not a byte-level or byte-fallback BPE, so the text of "
            "its tokens is not known as bytes; score with attribution='even_spread'",
        )
    vocab: dict[str, int] = model["vocab"]
    added = {int(item["id"]) for item in obj.get("added_tokens") or []}
    size = max([*vocab.values(), *added]) + 1
    out: list[bytes | None] = [None] * size
    for token, token_id in vocab.items():
        if token_id not in added:
            out[token_id] = _piece_bytes(token, byte_level=byte_level)
    return out


_BUILT: dict[str, VocabText] = {}


def _vocab_text(json_text: str, source: str) -> VocabText:
    return _sorted(texts_from_json(json_text, source))


def _sorted(token_bytes: list[bytes | None]) -> VocabText:
    places = sorted(
        (piece, token_id) for token_id, piece in enumerate(token_bytes) if piece is not None
    )
    exact: dict[bytes, list[int]] = {}
    for piece, token_id in places:
        exact.setdefault(piece, []).append(token_id)
    return {
        "token_bytes": token_bytes,
        "lengths": torch.tensor(
            [-1 if piece is None else len(piece) for piece in token_bytes], dtype=torch.long
        ),
        "sorted_bytes": [piece for piece, _ in places],
        "order": torch.tensor([token_id for _, token_id in places], dtype=torch.long),
        "exact": exact,
        "spans": {},
    }


def char_at(piece: bytes, offset: int) -> int:
    """The code point of the whole character at byte ``offset`` of ``piece``, else -1.

    -1 when ``piece`` ends before the character does, or the bytes there are not UTF-8.
    """
    if offset >= len(piece):
        return -1
    lead = piece[offset]
    width = 1 + (lead >= 0xC0) + (lead >= 0xE0) + (lead >= 0xF0)
    chunk = piece[offset : offset + width].decode("utf-8", errors="replace")
    if len(chunk) != 1 or chunk == "\ufffd" or offset + width > len(piece):
        return -1
    return ord(chunk)


def vocab_text(tokenizer: TokenizerHandle) -> VocabText:
    """The ``VocabText`` of ``tokenizer``, built once per tokenizer id.

    Raises:
        ModelTrainerError: the errors of ``texts_from_json``.
    """
    key = tokenizer.tokenizer_id
    if key not in _BUILT and tokenizer.kind == "char":
        specials = {tokenizer.eos_id, tokenizer.pad_id, tokenizer.unk_id}
        _BUILT[key] = _sorted(
            [
                None if token_id in specials else tokenizer.id_to_text(token_id).encode("utf-8")
                for token_id in range(tokenizer.vocab_size)
            ]
        )
    if key not in _BUILT:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tokenizer.json"
            tokenizer.save(str(path))
            _BUILT[key] = _vocab_text(path.read_text(encoding="utf-8"), key)
    return _BUILT[key]


def prefix_spans(vocab: VocabText, piece: bytes) -> list[tuple[int, int]]:
    """The ``prefix_range`` of ``piece[:n]`` for ``n = 1 .. len(piece)``, kept in ``vocab``."""
    spans = vocab["spans"].get(piece)
    if spans is None:
        ordered = vocab["sorted_bytes"]
        spans = [prefix_range(ordered, piece[:n]) for n in range(1, len(piece) + 1)]
        vocab["spans"][piece] = spans
    return spans


def prefix_range(sorted_bytes: list[bytes], prefix: bytes) -> tuple[int, int]:
    """``[lo, hi)``: the places of the sorted order whose bytes begin with ``prefix``."""
    lo = bisect.bisect_left(sorted_bytes, prefix)
    head = prefix.rstrip(b"\xff")
    if not head:  # only bytes 0xff: every later entry begins with them
        return lo, len(sorted_bytes)
    after = head[:-1] + bytes([head[-1] + 1])  # the first bytes past every extension
    return lo, bisect.bisect_left(sorted_bytes, after, lo)

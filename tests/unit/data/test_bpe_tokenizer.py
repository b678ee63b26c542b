from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from tokenizers import Tokenizer, pre_tokenizers

from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.bpe import (
    CHUNK_CHARS,
    CUT_BEFORE,
    BPETokenizer,
    byte_alphabet,
    chunk_text,
)

SAMPLE = builtin_text()[:6000]
# Whitespace, letters, digits, punctuation and multi-byte characters, densely mixed.
MIXED = st.text(
    alphabet=st.sampled_from(list("ab Z1.,'\n\t\r é€🎉")) | st.characters(codec="utf-8")
)


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(SAMPLE, 300)


@pytest.fixture(scope="module")
def raw(bpe: BPETokenizer, tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    """The same tokenizer read back by ``tokenizers`` itself, encoding the whole text at once."""
    path = tmp_path_factory.mktemp("raw") / "bpe.json"
    bpe.save(str(path))
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.encode_special_tokens = True
    return tokenizer


def _by_bytes() -> dict[int, str]:
    return {byte: char for char, byte in byte_alphabet().items()}


def _byte_id(raw: Tokenizer, byte: int) -> int:
    token_id = raw.token_to_id(_by_bytes()[byte])
    assert token_id is not None
    return token_id


def test_is_a_tokenizer_handle(bpe: BPETokenizer) -> None:
    handle: TokenizerHandle = bpe
    assert handle.kind == "bpe"
    assert handle.vocab_size == 300
    assert (handle.eos_id, handle.pad_id, handle.unk_id) == (0, 1, None)
    assert handle.id_to_text(handle.eos_id) == "<|endoftext|>"
    assert handle.id_to_text(handle.pad_id) == "<pad>"


def test_byte_alphabet_is_the_byte_level_alphabet() -> None:
    table = byte_alphabet()
    assert set(table) == set(pre_tokenizers.ByteLevel.alphabet())
    assert sorted(table.values()) == list(range(256))


def test_byte_alphabet_matches_the_pre_tokenizer_byte_for_byte() -> None:
    by_byte = _by_bytes()
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    text = "".join(chr(point) for point in range(1, 128)) + "é€🎉\u0085\u00a0"
    ((mapped, _),) = pre.pre_tokenize_str(text)
    assert mapped == "".join(by_byte[byte] for byte in text.encode("utf-8"))


def test_saved_file_is_byte_level_without_prefix_space(bpe: BPETokenizer, tmp_path: Path) -> None:
    path = tmp_path / "bpe.json"
    bpe.save(str(path))
    obj = json.loads(path.read_text(encoding="utf-8"))
    assert obj["model"]["type"] == "BPE"
    assert obj["normalizer"] is None
    assert obj["pre_tokenizer"]["type"] == "ByteLevel"
    assert obj["pre_tokenizer"]["add_prefix_space"] is False
    assert obj["decoder"]["type"] == "ByteLevel"
    assert [token["content"] for token in obj["added_tokens"]] == ["<|endoftext|>", "<pad>"]


def test_learns_merges(bpe: BPETokenizer) -> None:
    text = SAMPLE[:1000]
    assert len(bpe.encode(text)) < len(text.encode("utf-8")) * 0.8


@examples(max_examples=200, deadline=None)
@given(MIXED)
def test_round_trip_any_text(bpe: BPETokenizer, text: str) -> None:
    assert bpe.decode(bpe.encode(text)) == text


def test_special_markers_in_text_are_plain_text(bpe: BPETokenizer) -> None:
    text = "a<pad>b<|endoftext|>c"
    ids = bpe.encode(text)
    assert bpe.eos_id not in ids
    assert bpe.pad_id not in ids
    assert bpe.decode(ids) == text


def test_decode_skips_special_ids(bpe: BPETokenizer) -> None:
    ids = bpe.encode("hello")
    assert bpe.decode([bpe.pad_id, *ids, bpe.eos_id]) == "hello"


def test_partial_characters(bpe: BPETokenizer, raw: Tokenizer) -> None:
    lead = _byte_id(raw, 0xC3)
    assert bpe.id_to_text(lead) == "\ufffd"
    assert bpe.decode([lead]) == "\ufffd"
    assert bpe.id_to_text(_byte_id(raw, ord("A"))) == "A"


def test_offsets_give_a_character_to_the_token_of_its_last_byte(
    bpe: BPETokenizer, raw: Tokenizer
) -> None:
    lead, tail = _byte_id(raw, 0xC3), _byte_id(raw, 0xA9)
    assert bpe.encode_offsets("é") == [(lead, 0, 0), (tail, 0, 1)]
    assert bpe.encode_offsets("") == []


@examples(max_examples=200, deadline=None)
@given(MIXED)
def test_offsets_tile_the_text(bpe: BPETokenizer, raw: Tokenizer, text: str) -> None:
    triples = bpe.encode_offsets(text)
    encoding = raw.encode(text, add_special_tokens=False)
    assert [token_id for token_id, _, _ in triples] == encoding.ids
    data = text.encode("utf-8")
    position = 0
    byte_end = 0
    for (_, start, end), token in zip(triples, encoding.tokens, strict=True):
        assert start == position
        assert end >= start
        byte_end += len(token)  # one byte-level character per byte
        # The characters whose last byte lies in this token or before it.
        assert text[:end] == data[:byte_end].decode("utf-8", errors="ignore")
        position = end
    assert position == len(text)
    assert byte_end == len(data)


@examples(max_examples=100, deadline=None)
@given(st.text(), st.integers(min_value=0, max_value=50))
def test_chunks_cut_only_before_a_line_end_or_space_after_printable_ascii(
    text: str, size: int
) -> None:
    pieces = chunk_text(text, size)
    assert "".join(pieces) == text
    for piece in pieces[:-1]:
        assert len(piece) >= size
    for piece in pieces[1:]:
        assert piece[0] in CUT_BEFORE
    for left in pieces[:-1]:
        assert "!" <= left[-1] <= "~"


@examples(max_examples=200, deadline=None)
@given(MIXED)
def test_chunked_encoding_equals_whole_encoding(raw: Tokenizer, text: str) -> None:
    pieces = raw.encode_batch(chunk_text(text, 1), add_special_tokens=False)
    chunked = [token_id for encoding in pieces for token_id in encoding.ids]
    assert chunked == raw.encode(text, add_special_tokens=False).ids


def test_long_text_encodes_as_one_piece(bpe: BPETokenizer, raw: Tokenizer) -> None:
    text = builtin_text()[:50_000]
    assert len(chunk_text(text, CHUNK_CHARS)) > 5
    assert bpe.encode(text) == raw.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("use", ["encode", "encode_offsets"])
def test_lone_surrogate_is_named(bpe: BPETokenizer, use: str) -> None:
    run: Callable[[str], object] = bpe.encode if use == "encode" else bpe.encode_offsets
    with pytest.raises(ModelTrainerError) as info:
        run("ab\ud800c")
    assert info.value.code == "INVALID_CONFIG"
    assert "U+D800 at index 2" in info.value.message


@pytest.mark.parametrize("bad", [-1, 300, 1000])
def test_ids_outside_the_vocabulary(bpe: BPETokenizer, bad: int) -> None:
    with pytest.raises(ModelTrainerError) as info:
        bpe.decode([2, bad])
    assert info.value.code == "MODEL_INCOMPATIBLE"
    assert f"token id {bad}" in info.value.message
    with pytest.raises(ModelTrainerError):
        bpe.id_to_text(bad)


@pytest.mark.parametrize(("text", "vocab_size"), [(SAMPLE, 257), ("", 300), ("a\ud800", 300)])
def test_cannot_train(text: str, vocab_size: int) -> None:
    with pytest.raises(ModelTrainerError) as info:
        BPETokenizer.train(text, vocab_size)
    if vocab_size < 258:
        assert info.value.code == "TOKENIZER_TRAIN_FAILED"
        assert "vocab_size=257" in info.value.message
    elif text:
        assert info.value.code == "INVALID_CONFIG"
    else:
        assert info.value.code == "TOKENIZER_TRAIN_FAILED"
        assert "empty" in info.value.message


def test_training_is_deterministic(bpe: BPETokenizer) -> None:
    assert BPETokenizer.train(SAMPLE, 300).tokenizer_id == bpe.tokenizer_id
    assert BPETokenizer.train(SAMPLE, 301).tokenizer_id != bpe.tokenizer_id


def test_small_text_gives_fewer_ids_than_asked() -> None:
    tok = BPETokenizer.train("ab", 400)
    assert 258 <= tok.vocab_size < 400
    assert tok.decode(tok.encode("abba")) == "abba"


def test_save_load_round_trip(bpe: BPETokenizer, tmp_path: Path) -> None:
    path = tmp_path / "bpe.json"
    bpe.save(str(path))
    saved = path.read_text(encoding="utf-8")
    assert bpe.tokenizer_id == hashlib.sha256(saved.encode("utf-8")).hexdigest()[:12]
    back = BPETokenizer.load(str(path))
    assert back.tokenizer_id == bpe.tokenizer_id
    assert back.vocab_size == bpe.vocab_size
    assert back.encode(SAMPLE[:500]) == bpe.encode(SAMPLE[:500])
    assert back.encode_offsets("a<pad>é") == bpe.encode_offsets("a<pad>é")


def _saved(bpe: BPETokenizer, tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "good.json"
    bpe.save(str(path))
    obj: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return obj


def _model(obj: dict[str, object]) -> dict[str, object]:
    model = obj["model"]
    assert isinstance(model, dict)
    return model


def _vocab(obj: dict[str, object]) -> dict[str, int]:
    vocab = _model(obj)["vocab"]
    assert isinstance(vocab, dict)
    return vocab


def _no_specials(obj: dict[str, object]) -> None:
    obj["added_tokens"] = []
    vocab = _vocab(obj)
    for name in ("<|endoftext|>", "<pad>"):
        del vocab[name]


def _gap(obj: dict[str, object]) -> None:
    vocab = _vocab(obj)
    last = max(vocab, key=lambda token: vocab[token])
    vocab[last] = vocab[last] + 5


def _foreign_token(obj: dict[str, object]) -> None:
    vocab = _vocab(obj)
    vocab["日本"] = len(vocab)


def _word_piece(obj: dict[str, object]) -> None:
    _model(obj)["type"] = "WordPiece"


def _prefix_space(obj: dict[str, object]) -> None:
    pre = obj["pre_tokenizer"]
    assert isinstance(pre, dict)
    pre["add_prefix_space"] = True


def _normalizer(obj: dict[str, object]) -> None:
    obj["normalizer"] = {"type": "Lowercase"}


def _unreadable(obj: dict[str, object]) -> None:
    _model(obj)["merges"] = "not a list"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_no_specials, "lacks the special tokens"),
        (_gap, "not 0..299"),
        (_foreign_token, "is not byte-level"),
        (_word_piece, "not a byte-level BPE"),
        (_prefix_space, "not a byte-level BPE"),
        (_normalizer, "not a byte-level BPE"),
        (_unreadable, "cannot be read by tokenizers"),
    ],
)
def test_load_wrong_shape(
    bpe: BPETokenizer,
    tmp_path: Path,
    change: Callable[[dict[str, object]], None],
    words: str,
) -> None:
    obj = _saved(bpe, tmp_path)
    change(obj)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        BPETokenizer.load(str(path))
    assert info.value.code == "TOKENIZER_LOAD_FAILED"
    assert str(path) in info.value.message
    assert words in info.value.message


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelTrainerError) as info:
        BPETokenizer.load(str(tmp_path / "none.json"))
    assert info.value.code == "TOKENIZER_NOT_FOUND"


def test_training_streams_pieces_read_once() -> None:
    read: list[int] = []

    def pieces() -> Iterator[str]:
        for start in range(0, len(SAMPLE), 1000):
            read.append(start)
            yield SAMPLE[start : start + 1000]

    tokenizer = BPETokenizer.train_pieces(pieces(), 300)
    assert read == list(range(0, len(SAMPLE), 1000))
    assert tokenizer.vocab_size == 300
    assert tokenizer.decode(tokenizer.encode(SAMPLE)) == SAMPLE


def test_a_surrogate_in_a_later_piece_stops_training() -> None:
    with pytest.raises(ModelTrainerError) as info:
        BPETokenizer.train_pieces([SAMPLE, "bad \ud800"], 300)
    assert info.value.code == "INVALID_CONFIG"
    assert "lone surrogate U+D800" in info.value.message
    with pytest.raises(ModelTrainerError) as empty:
        BPETokenizer.train_pieces(["", ""], 300)
    assert empty.value.code == "TOKENIZER_TRAIN_FAILED"


def test_encode_array_is_encode() -> None:
    tokenizer = BPETokenizer.train(SAMPLE, 300)
    ids = tokenizer.encode_array(SAMPLE)
    assert ids.dtype == np.uint32
    assert ids.tolist() == tokenizer.encode(SAMPLE)

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.char import CharTokenizer


def test_is_a_tokenizer_handle() -> None:
    handle: TokenizerHandle = CharTokenizer.from_text("abc")
    assert handle.kind == "char"
    assert (handle.pad_id, handle.eos_id, handle.unk_id) == (0, 1, 2)


def test_vocabulary_is_the_sorted_characters() -> None:
    tok = CharTokenizer.from_text("banana!")
    assert tok.chars == ["!", "a", "b", "n"]
    assert tok.vocab_size == 7
    assert tok.encode("ban!") == [5, 4, 6, 3]
    assert tok.decode([5, 4, 6, 3]) == "ban!"


def test_unknown_characters_become_unk_never_dropped() -> None:
    tok = CharTokenizer.from_text("ab")
    ids = tok.encode("aXb€")
    assert ids == [3, 2, 4, 2]
    assert tok.decode(ids) == "a\ufffdb\ufffd"
    assert tok.count_unknown("aXb€") == 2
    assert tok.count_unknown("abba") == 0


def test_decode_skips_pad_and_end_of_text() -> None:
    tok = CharTokenizer.from_text("ab")
    assert tok.decode([0, 3, 1, 4, 0]) == "ab"
    assert tok.decode([]) == ""


def test_id_to_text() -> None:
    tok = CharTokenizer.from_text("ab")
    assert [tok.id_to_text(i) for i in range(5)] == ["<pad>", "<|endoftext|>", "<unk>", "a", "b"]


@pytest.mark.parametrize("bad", [-1, 5, 99])
def test_ids_outside_the_vocabulary(bad: int) -> None:
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(ModelTrainerError) as info:
        tok.decode([3, bad])
    assert info.value.code == "MODEL_INCOMPATIBLE"
    assert f"token id {bad}" in info.value.message
    with pytest.raises(ModelTrainerError):
        tok.id_to_text(bad)


def test_encode_offsets_one_span_per_character() -> None:
    tok = CharTokenizer.from_text("ab")
    assert tok.encode_offsets("aZb") == [(3, 0, 1), (2, 1, 2), (4, 2, 3)]
    assert tok.encode_offsets("") == []


@examples(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_round_trip_of_known_characters(vocab_text: str, text: str) -> None:
    tok = CharTokenizer.from_text(vocab_text + text + "x")
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode_offsets(text)) == len(text)


def test_empty_text_cannot_train() -> None:
    with pytest.raises(ModelTrainerError) as info:
        CharTokenizer.from_text("")
    assert info.value.code == "TOKENIZER_TRAIN_FAILED"


def test_save_load_round_trip_and_id(tmp_path: Path) -> None:
    tok = CharTokenizer.from_text("héllo \ud800 wörld\n")
    path = tmp_path / "tok.json"
    tok.save(str(path))
    saved = path.read_text(encoding="utf-8")
    assert json.loads(saved) == {"kind": "char", "version": 1, "chars": tok.chars}
    assert tok.tokenizer_id == hashlib.sha256(saved.encode()).hexdigest()[:12]
    back = CharTokenizer.load(str(path))
    assert back.chars == tok.chars
    assert back.tokenizer_id == tok.tokenizer_id
    assert back.encode("hello") == tok.encode("hello")
    assert (
        CharTokenizer.from_text("abc").tokenizer_id != CharTokenizer.from_text("abd").tokenizer_id
    )


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelTrainerError) as info:
        CharTokenizer.load(str(tmp_path / "none.json"))
    assert info.value.code == "TOKENIZER_NOT_FOUND"


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "bpe", "version": 1, "chars": ["a"]},
        {"kind": "char", "version": 2, "chars": ["a"]},
        {"kind": "char", "version": 1},
        {"kind": "char", "version": 1, "chars": "ab"},
        {"kind": "char", "version": 1, "chars": []},
        {"kind": "char", "version": 1, "chars": ["a", 1]},
        {"kind": "char", "version": 1, "chars": ["ab"]},
        {"kind": "char", "version": 1, "chars": ["b", "a"]},
        {"kind": "char", "version": 1, "chars": ["a", "a"]},
    ],
)
def test_load_wrong_shape(tmp_path: Path, obj: dict[str, object]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        CharTokenizer.load(str(path))
    assert info.value.code == "TOKENIZER_LOAD_FAILED"
    assert str(path) in info.value.message


def test_encodes_the_builtin_corpus_fast() -> None:
    text = builtin_text()
    tok = CharTokenizer.from_text(text)
    start = time.perf_counter()
    ids = tok.encode(text)
    seconds = time.perf_counter() - start
    assert len(ids) == len(text)
    assert tok.count_unknown(text) == 0
    assert seconds < 1.0


def test_from_pieces_is_from_text_of_their_join() -> None:
    pieces = ["héllo ", "wörld", "", "\ud800 東京"]
    assert CharTokenizer.from_pieces(pieces).chars == CharTokenizer.from_text("".join(pieces)).chars
    with pytest.raises(ModelTrainerError) as info:
        CharTokenizer.from_pieces(["", ""])
    assert info.value.code == "TOKENIZER_TRAIN_FAILED"


def test_encode_array_is_a_table_lookup() -> None:
    tok = CharTokenizer.from_text("abc\ud800")
    ids = tok.encode_array("cab\ud800z\U0001f600")
    assert ids.dtype == np.uint32
    assert ids.tolist() == [5, 3, 4, 6, tok.unk_id, tok.unk_id]

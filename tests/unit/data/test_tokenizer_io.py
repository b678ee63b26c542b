from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.tokenizers.io import load_tokenizer, train_tokenizer

SAMPLE = builtin_text()[:4000]


def test_train_char_ignores_vocab_size() -> None:
    tok = train_tokenizer("char", "abca", 999)
    assert isinstance(tok, CharTokenizer)
    assert tok.vocab_size == 6


def test_train_bpe() -> None:
    tok = train_tokenizer("bpe", SAMPLE, 280)
    assert isinstance(tok, BPETokenizer)
    assert tok.vocab_size == 280


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(ModelTrainerError) as info:
        load_tokenizer(str(missing))
    assert info.value.code == "TOKENIZER_NOT_FOUND"
    assert str(missing) in info.value.message


def test_a_folder_is_not_a_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(ModelTrainerError) as info:
        load_tokenizer(str(tmp_path))
    assert info.value.code == "TOKENIZER_NOT_FOUND"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"kind": "char", "version": 1, "chars": ["a"', "is not JSON"),
        (b"", "is not JSON"),
        (b'["a", "b"]', "holds a JSON list, not an object"),
        (b'{"vocab": {}}', "neither a char tokenizer"),
        (b'{"kind": "word"}', "expected kind='char'"),
        (b'{"model": {"type": "Unigram"}}', "not a byte-level BPE"),
        (
            b'{"kind": "char", "chars": ["\xe9"]}',
            "is not UTF-8 (invalid byte 0xe9 at byte offset 28)",
        ),
    ],
)
def test_corrupt_file(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    with pytest.raises(ModelTrainerError) as info:
        load_tokenizer(str(path))
    assert info.value.code == "TOKENIZER_LOAD_FAILED"
    assert str(path) in info.value.message
    assert words in info.value.message


def test_truncated_saved_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    train_tokenizer("bpe", SAMPLE, 280).save(str(path))
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        load_tokenizer(str(path))
    assert info.value.code == "TOKENIZER_LOAD_FAILED"
    assert "is not JSON" in info.value.message

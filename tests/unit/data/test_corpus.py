from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.data.corpus import (
    BUILTIN_PYTHON_DOCS,
    builtin_text,
    load_corpus,
    read_text_file,
    split_text,
)
from model_trainer.core.errors import ModelTrainerError


def _capped(settings: Settings, cap: int) -> Settings:
    out: Settings = {**settings, "max_corpus_chars": cap}
    return out


def test_builtin_text_is_the_sorted_pydoc_topics() -> None:
    text = builtin_text()
    assert 400_000 < len(text) < 600_000
    assert text is builtin_text()
    assert text.startswith('The "assert" statement')
    assert "\n\n" in text


def test_load_builtin(settings: Settings) -> None:
    assert load_corpus(BUILTIN_PYTHON_DOCS, settings) == builtin_text()


def test_unknown_builtin_lists_known_names(settings: Settings) -> None:
    with pytest.raises(ModelTrainerError) as info:
        load_corpus("builtin:shakespeare", settings)
    assert info.value.code == "CORPUS_NOT_FOUND"
    assert "builtin:shakespeare" in info.value.message
    assert BUILTIN_PYTHON_DOCS in info.value.message


def test_builtin_over_the_cap(settings: Settings) -> None:
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(BUILTIN_PYTHON_DOCS, _capped(settings, 1000))
    assert info.value.code == "CORPUS_TOO_LARGE"
    assert f"has {len(builtin_text())} characters" in info.value.message
    assert (
        "the max_corpus_chars setting (1000); raise it with MODEL_TRAINER_MAX_CORPUS_CHARS"
        in info.value.message
    )


def test_load_file_keeps_bytes_as_written(tmp_path: Path, settings: Settings) -> None:
    file = tmp_path / "a.txt"
    file.write_bytes("héllo\r\nwörld\n".encode())
    assert load_corpus(str(file), settings) == "héllo\r\nwörld\n"


def test_load_file_of_any_suffix(tmp_path: Path, settings: Settings) -> None:
    file = tmp_path / "notes.md"
    file.write_text("# title\n", encoding="utf-8")
    assert load_corpus(str(file), settings) == "# title\n"


def test_load_folder_sorted_recursive_skipping_hidden(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "b.txt").write_text("B", encoding="utf-8")
    (tmp_path / "a.txt").write_text("A", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("C", encoding="utf-8")
    (tmp_path / "skip.md").write_text("not text", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("hidden", encoding="utf-8")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a-checkpoint.txt").write_text("old", encoding="utf-8")
    (tmp_path / "dir.txt").mkdir()
    assert load_corpus(str(tmp_path), settings) == "A\n\nB\n\nC"


def test_missing_path(tmp_path: Path, settings: Settings) -> None:
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(missing, settings)
    assert info.value.code == "CORPUS_NOT_FOUND"
    assert missing in info.value.message


def test_empty_path_is_not_the_working_folder(settings: Settings) -> None:
    with pytest.raises(ModelTrainerError) as info:
        load_corpus("", settings)
    assert info.value.code == "CORPUS_NOT_FOUND"
    assert "corpus_path" in info.value.message


def test_folder_without_txt(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "readme.md").write_text("text", encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(str(tmp_path), settings)
    assert info.value.code == "CORPUS_NOT_FOUND"
    assert "no .txt files" in info.value.message
    assert str(tmp_path) in info.value.message


@pytest.mark.parametrize("content", ["", " \n\t\r\n  "])
def test_empty_or_whitespace_file(tmp_path: Path, settings: Settings, content: str) -> None:
    file = tmp_path / "blank.txt"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(str(file), settings)
    assert info.value.code == "CORPUS_EMPTY"
    assert str(file) in info.value.message


def test_folder_of_blank_files_is_empty(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "a.txt").write_text("", encoding="utf-8")
    (tmp_path / "b.txt").write_text("  ", encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(str(tmp_path), settings)
    assert info.value.code == "CORPUS_EMPTY"


def test_file_far_over_the_cap_is_not_read(tmp_path: Path, settings: Settings) -> None:
    # Not UTF-8: were it read, the error would be INVALID_CONFIG.
    file = tmp_path / "big.txt"
    file.write_bytes(b"\xff" * 100)
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(str(file), _capped(settings, 24))
    assert info.value.code == "CORPUS_TOO_LARGE"
    assert "100 bytes, so at least 25 characters" in info.value.message


def test_cap_counts_characters_not_bytes(tmp_path: Path, settings: Settings) -> None:
    file = tmp_path / "kanji.txt"
    file.write_text("日" * 10, encoding="utf-8")
    assert load_corpus(str(file), _capped(settings, 10)) == "日" * 10
    file.write_text("日" * 11, encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(str(file), _capped(settings, 10))
    assert info.value.code == "CORPUS_TOO_LARGE"
    assert "has 11 characters" in info.value.message


def test_latin1_file_names_the_byte_offset(tmp_path: Path, settings: Settings) -> None:
    file = tmp_path / "latin1.txt"
    file.write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(str(file), settings)
    assert info.value.code == "INVALID_CONFIG"
    assert str(file) in info.value.message
    assert "invalid byte 0xe9 at byte offset 3" in info.value.message


def test_read_text_file(tmp_path: Path) -> None:
    file = tmp_path / "prompt.txt"
    file.write_text("def f():\n", encoding="utf-8")
    assert read_text_file(str(file), "prompt_path") == "def f():\n"


def test_read_text_file_missing_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ModelTrainerError) as info:
        read_text_file(str(tmp_path), "prompt_path")
    assert info.value.code == "CORPUS_NOT_FOUND"
    assert "prompt_path" in info.value.message
    assert str(tmp_path) in info.value.message


def test_read_text_file_not_utf8_names_field_path_offset(tmp_path: Path) -> None:
    file = tmp_path / "score.txt"
    file.write_bytes(b"ok \x80 not")
    with pytest.raises(ModelTrainerError) as info:
        read_text_file(str(file), "path")
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message.startswith("path: ")
    assert str(file) in info.value.message
    assert "invalid byte 0x80 at byte offset 3" in info.value.message


def test_split_takes_the_tail_as_validation() -> None:
    assert split_text("abcdefghij", 0.2) == ("abcdefgh", "ij")
    assert split_text("abcdefghij", 0.0) == ("abcdefghij", "")
    assert split_text("abc", 0.1) == ("abc", "")
    train, val = split_text(builtin_text(), 0.1)
    assert train + val == builtin_text()
    assert len(val) == round(len(builtin_text()) * 0.1)


@pytest.mark.parametrize(("text", "fraction"), [("", 0.0), ("a", 0.6), ("ab", 0.9)])
def test_split_without_training_text(text: str, fraction: float) -> None:
    with pytest.raises(ModelTrainerError) as info:
        split_text(text, fraction)
    assert info.value.code == "CORPUS_EMPTY"
    assert f"val_fraction={fraction}" in info.value.message


@pytest.mark.parametrize("fraction", [-0.1, 1.0, float("nan")])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ModelTrainerError) as info:
        split_text("abc", fraction)
    assert info.value.code == "INVALID_CONFIG"
    assert "val_fraction" in info.value.message


def test_a_fifo_device_or_socket_is_named_for_what_it_is(
    tmp_path: Path, settings: Settings
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ModelTrainerError) as info:
        load_corpus(str(fifo), settings)
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message.startswith(f"corpus_path: {str(fifo)!r} is a FIFO (named pipe)")
    with pytest.raises(ModelTrainerError, match="'/dev/null' is a device file"):
        read_text_file("/dev/null", "path")
    server = socket.socket(socket.AF_UNIX)
    address = tmp_path / "sock"
    server.bind(str(address))
    with pytest.raises(ModelTrainerError, match="is a socket, not a regular file"):
        load_corpus(str(address), settings)
    server.close()

"""Every kind of corpus source read as documents, and every bad source refused by name."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model_trainer.core.data import sources
from model_trainer.core.data.corpus import BUILTIN_PYTHON_DOCS, builtin_text
from model_trainer.core.data.sources import (
    Source,
    open_source,
    pick_split,
    read_pieces,
    require_extra,
    require_table,
    table_rows,
)
from model_trainer.core.errors import ModelTrainerError

DOCS = ["first doc\n", "", "second — ünïcode\n", "third"]


def _open(path: str | Path, **given: str) -> Source:
    options = {"field": "corpus_path", "text_field": "text", "glob": "**/*.txt", "split": "train"}
    return open_source(str(path), **{**options, **given})


def _docs(source: Source) -> list[str]:
    return ["".join(document) for document in source.documents()]


def _error(path: str | Path, **given: str) -> ModelTrainerError:
    with pytest.raises(ModelTrainerError) as info:
        _docs(_open(path, **given))
    return info.value


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_builtin_is_one_document() -> None:
    source = _open(BUILTIN_PYTHON_DOCS)
    assert _docs(source) == [builtin_text()]
    assert source.fingerprint == _open(BUILTIN_PYTHON_DOCS).fingerprint


def test_unknown_builtin_names_the_field() -> None:
    error = _error("builtin:nope", field="val_path")
    assert error.code == "CORPUS_NOT_FOUND"
    assert "val_path: unknown builtin corpus 'builtin:nope'" in error.message


def test_text_file_is_one_document_kept_as_written(tmp_path: Path) -> None:
    file = tmp_path / "notes.md"
    file.write_bytes("héllo\r\nwörld\n".encode())
    assert _docs(_open(file)) == ["héllo\r\nwörld\n"]


def test_a_big_file_streams_in_blocks_across_a_split_character(tmp_path: Path) -> None:
    file = tmp_path / "big.txt"
    head = "a" * (sources.BLOCK_BYTES - 1)
    file.write_bytes((head + "é" + "tail").encode())
    pieces = list(read_pieces(file, "corpus_path"))
    assert len(pieces) == 2
    assert "".join(pieces) == head + "é" + "tail"


def test_not_utf8_names_the_absolute_byte_offset(tmp_path: Path) -> None:
    file = tmp_path / "bad.txt"
    file.write_bytes(b"a" * sources.BLOCK_BYTES + b"ok\xff")
    error = _error(file)
    assert error.code == "INVALID_CONFIG"
    assert error.message == (
        f"corpus_path: file {str(file)!r} is not UTF-8: invalid byte 0xff "
        f"at byte offset {sources.BLOCK_BYTES + 2}"
    )


def test_a_character_cut_off_at_the_end_is_not_utf8(tmp_path: Path) -> None:
    file = tmp_path / "cut.txt"
    file.write_bytes(b"ab" + "é".encode()[:1])
    assert "invalid byte 0xc3 at byte offset 2" in _error(file).message


def test_folder_reads_matching_files_sorted_one_document_each(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("B", encoding="utf-8")
    (tmp_path / "a.txt").write_text("A", encoding="utf-8")
    (tmp_path / "c.md").write_text("C", encoding="utf-8")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a.txt").write_text("hidden", encoding="utf-8")
    assert _docs(_open(tmp_path)) == ["A", "B"]
    assert _docs(_open(tmp_path, glob="*")) == ["A", "C"]
    assert _docs(_open(tmp_path, glob="**/*")) == ["A", "B", "C"]


def test_folder_without_matching_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("A", encoding="utf-8")
    error = _error(tmp_path)
    assert error.code == "CORPUS_NOT_FOUND"
    assert "holds no files matching glob='**/*.txt'" in error.message


def test_fingerprint_follows_the_files(tmp_path: Path) -> None:
    file = tmp_path / "a.txt"
    file.write_text("one", encoding="utf-8")
    before = _open(file).fingerprint
    assert _open(file).fingerprint == before
    file.write_text("three", encoding="utf-8")
    assert _open(file).fingerprint != before
    folder = _open(tmp_path).fingerprint
    assert _open(tmp_path, glob="*.txt").fingerprint != folder


def test_missing_and_empty_paths(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.txt").code == "CORPUS_NOT_FOUND"
    assert _error("").message == "corpus_path: empty path"


def test_fifo_device_and_socket_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "is a FIFO (named pipe)" in _error(fifo).message
    assert "is a device file" in _error("/dev/null", field="val_path").message
    address = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(address))
        assert "is a socket" in _error(address).message


def test_jsonl_rows(tmp_path: Path) -> None:
    file = tmp_path / "rows.jsonl"
    file.write_text(
        "".join(json.dumps({"text": doc, "id": i}) + "\n" for i, doc in enumerate(DOCS)) + "\n",
        encoding="utf-8",
    )
    assert _docs(_open(file)) == DOCS
    unended = tmp_path / "unended.jsonl"
    unended.write_text('{"text": "a"}\n{"text": "b"}', encoding="utf-8")
    assert _docs(_open(unended)) == ["a", "b"]


def test_jsonl_bad_rows(tmp_path: Path) -> None:
    missing = _error(_jsonl(tmp_path / "a.jsonl", [{"text": "x"}, {"txt": "y"}]))
    assert missing.code == "INVALID_CONFIG"
    assert "text_field 'text' is not a column of 'line 2 of" in missing.message
    assert "its columns: 'txt'" in missing.message
    number = _error(_jsonl(tmp_path / "b.jsonl", [{"text": "x"}, {"text": 3}]))
    assert "text_field 'text': line 2 of" in number.message
    assert "holds a int, not a string" in number.message
    listed = _error(_jsonl(tmp_path / "c.jsonl", [["text"]]))
    assert "line 1 of" in listed.message
    assert "holds a JSON list, not an object" in listed.message
    broken = tmp_path / "d.jsonl"
    broken.write_text('{"text": "x"}\n{"text": \n', encoding="utf-8")
    assert "line 2 of" in _error(broken).message
    assert "is not JSON" in _error(broken).message
    lone = _error(_jsonl(tmp_path / "e.jsonl", [{"text": "ok"}, {"text": "é\udfff"}]))
    assert lone.code == "INVALID_CONFIG"
    assert f"line 2 of {str(tmp_path / 'e.jsonl')!r} has a lone surrogate U+DFFF" in lone.message
    assert "at character offset 1, which UTF-8 cannot encode" in lone.message


def test_csv_rows(tmp_path: Path) -> None:
    file = tmp_path / "rows.csv"
    file.write_text('id,body\n1,"multi\nline, quoted"\n2,plain\n', encoding="utf-8")
    assert _docs(_open(file, text_field="body")) == ["multi\nline, quoted", "plain"]


def test_csv_bad_rows(tmp_path: Path) -> None:
    file = tmp_path / "rows.csv"
    file.write_text("id,body\n1,x\n2\n", encoding="utf-8")
    missing = _error(file, text_field="text")
    assert "text_field 'text' is not a column of" in missing.message
    assert "'id', 'body'" in missing.message
    short = _error(file, text_field="body")
    assert "text_field 'body': row 2 of" in short.message
    assert "holds a NoneType" in short.message
    broken = tmp_path / "broken.csv"
    broken.write_text("text\nun\rquoted\n", encoding="utf-8")
    error = _error(broken)
    assert error.code == "INVALID_CONFIG"
    assert "is not valid CSV" in error.message


def test_parquet_rows(tmp_path: Path) -> None:
    file = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": DOCS, "n": list(range(len(DOCS)))}), file, row_group_size=2)
    assert _docs(_open(file)) == DOCS


def test_parquet_bad_rows(tmp_path: Path) -> None:
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["a", None]}), nulls)
    error = _error(nulls)
    assert "row index 1 of" in error.message
    assert "holds a NoneType, not a string" in error.message
    assert "is not a column" in _error(nulls, text_field="body").message
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet", encoding="utf-8")
    assert "is not a Parquet file" in _error(fake).message


def test_saved_dataset_and_dataset_dict(tmp_path: Path) -> None:
    table = datasets.Dataset.from_dict({"text": DOCS, "n": list(range(len(DOCS)))})
    table.save_to_disk(str(tmp_path / "one"))
    assert _docs(_open(tmp_path / "one")) == DOCS
    splits = datasets.DatasetDict(
        {"train": table, "validation": datasets.Dataset.from_dict({"text": ["held out"]})}
    )
    splits.save_to_disk(str(tmp_path / "two"))
    assert _docs(_open(tmp_path / "two")) == DOCS
    assert _docs(_open(tmp_path / "two", split="validation", field="val_path")) == ["held out"]
    missing = _error(tmp_path / "two", split="test")
    assert missing.code == "INVALID_CONFIG"
    assert "corpus_path: 'test' is not a split of" in missing.message
    assert "'train', 'validation'" in missing.message
    assert "is not a column" in _error(tmp_path / "one", text_field="body").message


def test_dataset_rows_of_another_type_name_the_row() -> None:
    table = require_table(datasets.Dataset.from_dict({"text": ["a", "b", None]}), "corpus")
    with pytest.raises(ModelTrainerError) as info:
        list(table_rows(table, "text", "corpus"))
    assert "row index 2 of 'corpus' holds a NoneType" in info.value.message


def test_an_object_that_is_no_table() -> None:
    with pytest.raises(ModelTrainerError) as info:
        pick_split(42, "train", "corpus", "corpus")
    assert info.value.message.startswith("corpus: a int is not a corpus")


def test_a_missing_extra_names_the_extra() -> None:
    assert require_extra("json") is json
    with pytest.raises(ModelTrainerError) as info:
        require_extra("no_such_package_here.sub")
    assert info.value.code == "INVALID_CONFIG"
    assert "'no_such_package_here'" in info.value.message
    assert "pip install 'model-trainer[data]'" in info.value.message

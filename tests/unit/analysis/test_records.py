"""Records of every kind of source, with metadata; batches; the scoring config's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from model_trainer.core.analysis.batches import pack, windows
from model_trainer.core.analysis.records import Record, memory_records, path_records
from model_trainer.core.contracts.corpus import (
    CORPUS_DEFAULTS,
    CorpusScoreConfig,
    validate_corpus_config,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.extras import require_extra

ROWS = [{"text": "one two", "n": 1, "tag": "a"}, {"text": "three", "n": 2, "tag": "b"}]
EXPECTED: list[Record] = [
    {"text": "one two", "meta": {"n": 1, "tag": "a"}},
    {"text": "three", "meta": {"n": 2, "tag": "b"}},
]


def _read(path: Path, text_field: str = "text") -> list[Record]:
    return list(path_records(str(path), text_field=text_field, glob="*.txt", split="train")())


def test_table_sources_give_each_row_its_metadata(tmp_path: Path) -> None:
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in ROWS) + "\n\n", encoding="utf-8")
    assert _read(jsonl) == EXPECTED
    csv = tmp_path / "rows.csv"
    csv.write_text("text,n,tag\none two,1,a\nthree,2,b", encoding="utf-8")
    assert _read(csv) == [
        {"text": "one two", "meta": {"n": "1", "tag": "a"}},
        {"text": "three", "meta": {"n": "2", "tag": "b"}},
    ]
    parquet = tmp_path / "rows.parquet"
    Dataset.from_list(ROWS).to_parquet(str(parquet))
    assert _read(parquet) == EXPECTED
    saved = tmp_path / "saved"
    DatasetDict({"train": Dataset.from_list(ROWS)}).save_to_disk(str(saved))
    assert _read(saved) == EXPECTED
    assert list(memory_records(Dataset.from_list(ROWS), "text")) == EXPECTED


def test_other_sources_give_documents_without_metadata(tmp_path: Path) -> None:
    text = tmp_path / "one.txt"
    text.write_text("a whole file", encoding="utf-8")
    assert _read(text) == [{"text": "a whole file", "meta": {}}]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "b.txt").write_text("second", encoding="utf-8")
    (folder / "a.txt").write_text("first", encoding="utf-8")
    assert [record["text"] for record in _read(folder)] == ["first", "second"]
    assert list(memory_records(["x", "y"], "text")) == [
        {"text": "x", "meta": {}},
        {"text": "y", "meta": {}},
    ]


def test_bad_rows_are_named(tmp_path: Path) -> None:
    cases = [
        ("not json\n", "line 1 of .* is not JSON"),
        ("[1, 2]\n", "line 1 of .* is not a JSON object"),
        (json.dumps({"text": 3}) + "\n", "holds a int, not a string"),
        (json.dumps({"body": "x"}) + "\n", "text_field 'text' is not a column .* 'body'"),
        (json.dumps({"text": "x", "doc": 1}) + "\n", "metadata column 'doc'"),
    ]
    for index, (content, message) in enumerate(cases):
        path = tmp_path / f"bad{index}.jsonl"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ModelTrainerError, match=message):
            _read(path)
    with pytest.raises(ModelTrainerError, match="document 1 is a int"):
        memory_records(["x", 3], "text")
    with pytest.raises(ModelTrainerError, match="nothing at"):
        _read(tmp_path / "missing.txt")


def test_windows_and_batches() -> None:
    assert list(windows(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert pack([3, 9, 2, 4, 20], 12) == [[4], [1], [3, 0, 2]]
    assert pack([], 12) == []


def test_the_corpus_config_is_checked() -> None:
    assert require_extra("pyarrow", extra="corpus", needed_by="x").__name__ == "pyarrow"
    validate_corpus_config(CORPUS_DEFAULTS)
    bad: list[tuple[CorpusScoreConfig, str]] = [
        ({**CORPUS_DEFAULTS, "text_field": ""}, "text_field must be"),
        ({**CORPUS_DEFAULTS, "batch_tokens": 0}, "batch_tokens must be an integer in"),
        ({**CORPUS_DEFAULTS, "window_docs": True}, "window_docs must be"),
        ({**CORPUS_DEFAULTS, "tables": ["documents", "documents"]}, "tables must be"),
    ]
    for cfg, message in bad:
        with pytest.raises(ModelTrainerError, match=message):
            validate_corpus_config(cfg)

"""A source option no source of the run reads (glob, text_field, a split) is refused."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.data.prepare import RunSource
from model_trainer.core.errors import ConfigError


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, str]:
    """One source of each kind: a text file, a folder, a .jsonl file, a Dataset, a DatasetDict."""
    text = tmp_path / "book.txt"
    text.write_text("a text\n" * 50, encoding="utf-8")
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "one.md").write_text("a text\n" * 50, encoding="utf-8")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"body": "a row"}\n' * 50, encoding="utf-8")
    table = datasets.Dataset.from_dict({"body": ["a row"] * 50})
    table.save_to_disk(str(tmp_path / "table"))
    datasets.DatasetDict({"train": table, "held": table}).save_to_disk(str(tmp_path / "splits"))
    return {
        "text": str(text),
        "folder": str(folder),
        "rows": str(rows),
        "table": str(tmp_path / "table"),
        "splits": str(tmp_path / "splits"),
    }


Paths = tuple[str, str | None]
REFUSED: list[tuple[Paths, dict[str, object], str]] = [
    (("text", None), {"glob": "*.md"}, "glob='*.md' would be ignored: only a folder reads it"),
    (("rows", "text"), {"glob": "*.md", "text_field": "body"}, "glob='*.md'"),
    (("text", None), {"text_field": "body"}, "text_field='body' would be ignored: only a .jsonl"),
    (("folder", None), {"glob": "*.md", "text_field": "body"}, "text_field='body'"),
    (("table", None), {"text_field": "body", "dataset_split": "held"}, "dataset_split='held'"),
    (("text", None), {"val_split": "held"}, "val_split='held' would be ignored"),
    (("text", "table"), {"val_split": "held", "text_field": "body"}, "val_split='held'"),
]


@pytest.mark.parametrize(("paths", "fields", "start"), REFUSED)
def test_an_option_no_source_reads_is_refused(
    sources: dict[str, str], settings: Settings, paths: Paths, fields: dict[str, object], start: str
) -> None:
    corpus, val = paths
    cfg = train_config(
        corpus_path=sources[corpus], val_path=None if val is None else sources[val], **fields
    )
    with pytest.raises(ConfigError) as info:
        RunSource(cfg, settings)
    assert info.value.message.startswith(start)
    read = repr(sources[corpus]) + ("" if val is None else f" or {sources[val]!r}")
    if start.startswith("val_split"):
        read = "no val_path" if val is None else repr(sources[val])
    assert f"the run reads {read}; leave " in info.value.message


READ: list[tuple[Paths, dict[str, object]]] = [
    (("folder", None), {"glob": "*.md"}),
    (("folder", "rows"), {"glob": "*.md", "text_field": "body"}),
    (("splits", None), {"text_field": "body", "dataset_split": "held"}),
    (("text", "splits"), {"text_field": "body", "val_split": "held"}),
    (("text", None), {}),
]


@pytest.mark.parametrize(("paths", "fields"), READ)
def test_options_a_source_reads_pass(
    sources: dict[str, str], settings: Settings, paths: Paths, fields: dict[str, object]
) -> None:
    corpus, val = paths
    cfg = train_config(
        corpus_path=sources[corpus], val_path=None if val is None else sources[val], **fields
    )
    assert RunSource(cfg, settings).corpus.name == sources[corpus]

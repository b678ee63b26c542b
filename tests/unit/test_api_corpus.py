"""``train(corpus=...)``: in-memory corpora saved with the run, so evaluate and resume find them."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from model_trainer import api
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.data.memory import Corpus
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.manifest import read_manifest

TEXT = builtin_text()[:6000]


def _train(runs: str, run_id: str, corpus: Corpus | None, **fields: str | None) -> api.TrainJob:
    return api.train(
        model_family="fake",
        model_size="tiny",
        corpus=corpus,
        val_corpus=None,
        val_path=fields.get("val_path"),
        text_field=fields.get("text_field") or "text",
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        warmup_steps=1,
        device="cpu",
        run_id=run_id,
        runs_dir=runs,
        show=False,
    )


def test_a_string_is_saved_by_content_and_evaluated_from_disk(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    _train(runs, "text", TEXT).result()
    config = read_manifest(str(Path(runs) / "text"))["config"]
    saved = Path(config["corpus_path"])
    assert saved.parent == (Path(runs) / ".cache" / "sources").resolve()
    assert saved.read_text(encoding="utf-8") == json.dumps({"text": TEXT}) + "\n"
    # The kernel's objects are gone; the run's config still leads to its corpus.
    outcome = api.evaluate("text", runs_dir=runs)
    # Whole windows of the held-out tenth are scored.
    assert len(TEXT) * 0.1 - 17 < outcome["num_chars"] <= len(TEXT) * 0.1
    _train(runs, "again", TEXT).result()
    assert read_manifest(str(Path(runs) / "again"))["config"]["corpus_path"] == str(saved)


def test_documents_and_a_dataset(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    docs = [TEXT[i : i + 500] for i in range(0, len(TEXT), 500)]
    listed = _train(runs, "docs", docs).result()
    table = datasets.Dataset.from_dict({"body": docs})
    tabled = _train(runs, "table", table, text_field="body").result()
    assert listed["steps"] == tabled["steps"] == 2
    splits = datasets.DatasetDict({"train": table})
    _train(runs, "dict", splits, text_field="body").result()
    saved = read_manifest(str(Path(runs) / "dict"))["config"]["corpus_path"]
    assert saved == read_manifest(str(Path(runs) / "table"))["config"]["corpus_path"]


def test_a_separate_validation_corpus(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    job = api.train(
        model_family="fake",
        model_size="tiny",
        corpus=TEXT[:5000],
        val_corpus=[TEXT[5000:]],
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
        run_id="held",
        runs_dir=runs,
        show=False,
    )
    job.result()
    assert read_manifest(job.run_dir)["config"]["val_path"] is not None
    assert 1000 - 17 < api.evaluate(job, runs_dir=runs)["num_chars"] <= 1000


def test_a_bad_in_memory_corpus(tmp_path: Path) -> None:
    with pytest.raises(ModelTrainerError) as info:
        _train(str(tmp_path / "runs"), "bad", json.loads(json.dumps([TEXT, None])))
    assert info.value.message == "corpus: document 1 is a NoneType, not a str"
    with pytest.raises(ModelTrainerError) as failed:
        _train(str(tmp_path / "runs"), "empty", [])
    assert failed.value.code == "CORPUS_EMPTY"
    assert failed.value.message == (
        "corpus holds no text (no documents, or only empty or blank ones); give it at least "
        "one document with text"
    )
    assert not (tmp_path / "runs" / "empty").exists()
    with pytest.raises(ModelTrainerError) as blank:
        _train(str(tmp_path / "runs"), "blank", ["", " \n"])
    assert blank.value.message == failed.value.message
    assert list((tmp_path / "runs" / ".cache" / "sources").iterdir()) == []


def test_a_corpus_given_twice_is_refused(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    file = tmp_path / "book.txt"
    file.write_text(TEXT, encoding="utf-8")
    both = {"corpus": TEXT, "corpus_path": str(file)}
    vals = {"val_corpus": [TEXT], "val_path": str(file)}
    for given, field, path_field in (
        (both, "corpus", "corpus_path"),
        (vals, "val_corpus", "val_path"),
    ):
        with pytest.raises(ModelTrainerError) as info:
            api.train(model_family="fake", model_size="tiny", runs_dir=runs, show=False, **given)
        assert info.value.message == (
            f"{field} and {path_field}={str(file)!r} are both given, and a run reads one corpus: "
            f"keep {field} (the text in memory) or {path_field} (a file or folder), not both"
        )
    assert not Path(runs).exists()


def test_a_path_given_as_the_text_is_refused(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    file = tmp_path / "book.txt"
    file.write_text(TEXT, encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        _train(runs, "path", str(file))
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message == (
        f"corpus is a str that names the path {str(file)!r}, and corpus= takes the text "
        f"itself: pass the path as corpus_path={str(file)!r}, or the file's text as corpus"
    )
    with pytest.raises(ModelTrainerError) as folder:
        api.train(
            model_family="fake",
            model_size="tiny",
            corpus=TEXT,
            val_corpus=str(tmp_path),
            runs_dir=runs,
            show=False,
        )
    assert f"pass the path as val_path={str(tmp_path)!r}" in folder.value.message
    # A text that merely looks like a path, of no file, is a text.
    _train(runs, "text", "/no/such/file.txt " * 40).result()


def test_a_lone_surrogate_is_refused_before_training(tmp_path: Path) -> None:
    # A str can hold it; UTF-8 (the cache, report.html) cannot: refused when read, not after.
    runs = tmp_path / "runs"
    with pytest.raises(ModelTrainerError) as info:
        _train(str(runs), "surrogate", [TEXT, "ab\udc80c"])
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message.startswith(
        "corpus: document 1 has a lone surrogate U+DC80 at character offset 2,"
    )
    assert not (runs / "surrogate").exists()
    file = tmp_path / "rows.jsonl"
    file.write_text('{"text": "fine"}\n{"text": "x\\ud800"}\n', encoding="utf-8")
    with pytest.raises(ModelTrainerError) as read:
        api.train(
            model_family="fake",
            model_size="tiny",
            corpus_path=str(file),
            run_id="jsonl",
            runs_dir=str(runs),
            device="cpu",
            show=False,
        ).result()
    assert f"line 2 of {str(file)!r} has a lone surrogate U+D800 at character offset 1" in (
        read.value.message
    )


def test_evaluate_a_run_that_held_nothing_out(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    job = api.train(
        model_family="fake",
        model_size="tiny",
        corpus=TEXT,
        val_fraction=0.00001,
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=1,
        device="cpu",
        runs_dir=runs,
        show=False,
    )
    job.result()
    with pytest.raises(ModelTrainerError) as info:
        api.evaluate(job, runs_dir=runs)
    assert info.value.code == "INVALID_CONFIG"
    assert "val_fraction=1e-05 holds out no whole character" in info.value.message

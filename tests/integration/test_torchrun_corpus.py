"""``score_corpus(..., nproc=2)``: two Gloo ranks under torchrun write the tables of one process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from model_trainer import api
from model_trainer.cli import main
from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.contracts.corpus import CORPUS_DEFAULTS
from model_trainer.core.distributed.corpus_launch import launch_scoring
from model_trainer.core.errors import ModelTrainerError
from model_trainer.corpus_api import open_scores, plan_scoring, score_corpus

DOCS = [f"Sentence {index}: a short line of text, then {index * 7} more." for index in range(9)]


def test_two_gloo_ranks_give_the_tables_of_one_process(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    api.train(
        model_family="fake",
        model_size="tiny",
        tokenizer_kind="bpe",
        vocab_size=300,
        num_epochs=1,
        max_seq_len=32,
        batch_size=8,
        max_steps_per_epoch=1,
        device="cpu",
        run_id="bpe",
        runs_dir=runs,
        show=False,
    ).result()
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": doc, "n": index}) + "\n" for index, doc in enumerate(DOCS)),
        encoding="utf-8",
    )
    two = score_corpus(
        {"m": "bpe"}, str(corpus), name="two", window_docs=2, nproc=2, runs_dir=runs, show=False
    ).result()
    one = score_corpus(
        {"m": "bpe"}, str(corpus), name="one", window_docs=2, runs_dir=runs, show=False
    ).result()
    assert (two["documents"], two["cancelled"]) == (len(DOCS), False)
    assert two["models"] == one["models"]
    for table in ("documents", "words"):
        assert open_scores("two", runs_dir=runs).frame(table).to_dict("records") == open_scores(
            "one", runs_dir=runs
        ).frame(table).to_dict("records")
    parts = sorted(path.name for path in (tmp_path / "runs" / "two" / "documents").iterdir())
    assert len(parts) == 5
    with pytest.raises(ModelTrainerError, match="nproc=2 needs the source as a path"):
        score_corpus("bpe", DOCS, nproc=2, runs_dir=runs, show=False)
    settings = with_overrides(load_settings(), runs_dir=runs)
    plan = plan_scoring({"m": "bpe"}, str(corpus), CORPUS_DEFAULTS, settings)
    failing = [sys.executable, "-c", "print('error[X]: a rank failed'); raise SystemExit(3)"]
    with pytest.raises(ModelTrainerError, match="status 3") as failed:
        launch_scoring(failing, plan, settings).result()
    assert "a rank failed" in failed.value.message


def test_score_corpus_under_torchrun_needs_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert main(["score-corpus", "bpe", "--corpus", "builtin:python-docs"]) == 2

"""DataFrames hold the same numbers as the outcomes they come from."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from model_trainer import api, experiment_api
from model_trainer.core.contracts.model import ScoreOutcome
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.extras import require_extra
from model_trainer.core.jobs.evolution import evolution_by_epoch
from model_trainer.core.training.checkpoint import load_history
from model_trainer.notebook.frames import HISTORY_COLUMNS, SCORE_COLUMNS


def test_frames_of_runs_history_and_scores(corpus: str, runs: str) -> None:
    job = api.train(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        num_epochs=2,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=3,
        device="cpu",
        runs_dir=runs,
        show=False,
        run_id="framed",
    )
    job.result()
    assert experiment_api.runs_frame(runs_dir=runs).to_dict("records") == api.list_runs(
        runs_dir=runs
    )
    history = load_history(str(Path(runs) / "framed"))
    rows = experiment_api.history_frame(job, runs_dir=runs).to_dict("records")
    assert isinstance(rows, list)
    assert [list(row) for row in rows] == [list(HISTORY_COLUMNS)] * 2
    watched = evolution_by_epoch(job.events)
    for row, metrics, seen in zip(rows, history, watched, strict=True):
        val = metrics["val_loss"]
        assert val is not None
        assert seen["sample"]
        assert row == {
            **metrics,
            "val_bits_per_char": val / math.log(2.0),
            "sample": seen["sample"],
            "probe_bits_per_char": seen["probe_bits_per_char"],
        }
    worded = api.score("framed", text="def f(x):", detail_level="per_word", runs_dir=runs)
    assert experiment_api.score_frame(worded).to_dict("records") == worded["per_word"]
    assert [word["word"] for word in worded["per_word"]] == ["def", "f", "(", "x", ")", ":"]
    outcome = api.score(
        "framed", text="def f(x):\n    return x\n", detail_level="per_char", top_k=2, runs_dir=runs
    )
    scores = experiment_api.score_frame(outcome)
    assert len(scores) == outcome["num_chars"]
    records = scores.to_dict("records")
    assert isinstance(records, list)
    assert {tuple(record) for record in records} == {SCORE_COLUMNS}
    assert records == [
        {
            "char": s["char"],
            "surprisal_bits": s["surprisal_bits"],
            "token_index": s["token_index"],
            "rank": s["rank"],
            "top_k": s.get("top_k"),
        }
        for s in outcome.get("per_char", [])
    ]


def test_a_summary_score_has_no_frame(runs: str) -> None:
    outcome: ScoreOutcome = {
        "loss": 1.0,
        "perplexity": math.e,
        "bits_per_char": 1.0,
        "num_tokens": 1,
        "num_chars": 1,
        "num_unknown_chars": 0,
        "canonical_bits": 1.0,
    }
    with pytest.raises(ModelTrainerError, match="detail_level='per_char'") as caught:
        experiment_api.score_frame(outcome)
    assert caught.value.code == "INVALID_CONFIG"


def test_a_missing_extra_names_what_needs_it_and_how_to_install_it() -> None:
    with pytest.raises(
        ModelTrainerError, match=r"a view needs no_such_module_here, which"
    ) as caught:
        require_extra("no_such_module_here", extra="views", needed_by="a view")
    assert "pip install 'model-trainer[views]'" in caught.value.message
    assert require_extra("math", extra="none", needed_by="a test") is math

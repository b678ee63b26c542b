"""A score job reports how far a long text has got, for stateful and windowed scorers."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import score_config, train_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.events.job_events import is_job_progress
from model_trainer.core.jobs.score_job import start_score
from model_trainer.core.jobs.train_job import start_train


@pytest.mark.parametrize("family", ["char_lstm", "fake"])
def test_a_long_text_is_scored_with_progress_events(
    tmp_path: Path, settings: Settings, family: str
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:4000], encoding="utf-8")
    cfg = train_config(
        model_family=family,
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=1,
        max_seq_len=64,
        batch_size=8,
        max_steps_per_epoch=1,
        device="cpu",
    )
    start_train(cfg, settings, run_id="done").result()
    text = builtin_text()[:30_000]
    eager: Settings = {**settings, "progress_interval_s": 0.0}
    handle = start_score("done", score_config(text=text), eager)
    outcome = handle.result()
    assert outcome["num_tokens"] == len(text)
    progress = [event for event in handle.events if is_job_progress(event)]
    percents = [event["progress"] for event in progress]
    assert len(percents) > 10
    assert percents == sorted(set(percents))
    assert percents[-1] == 100
    assert progress[-1]["message"] == f"scored {len(text):,} of {len(text):,} tokens"
    assert [event["type"] for event in handle.events] == [
        "trainer.job.started.v1",
        *["trainer.job.progress.v1"] * len(progress),
        "trainer.job.completed.v1",
    ]
    quiet = start_score("done", score_config(text=text[:2000]), settings)
    quiet.result()
    assert not [event for event in quiet.events if is_job_progress(event)]

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings, load_settings, with_overrides
from model_trainer.core.contracts.defaults import generate_config, score_config, train_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.sinks import ListSink
from model_trainer.core.jobs.eval_job import start_eval
from model_trainer.core.jobs.generate_job import start_generate
from model_trainer.core.jobs.score_job import start_score
from model_trainer.core.jobs.tokenizer_job import start_tokenizer
from model_trainer.core.jobs.train_job import start_train
from model_trainer.core.tokenizers.io import load_tokenizer

LIFECYCLE = ["trainer.job.started.v1", "trainer.job.completed.v1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("trained")
    corpus = root / "corpus.txt"
    corpus.write_text(builtin_text()[:5000], encoding="utf-8")
    settings = with_overrides(load_settings({}), runs_dir=str(root / "runs"))
    cfg = train_config(
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=3,
        warmup_steps=1,
        device="cpu",
    )
    start_train(cfg, settings, run_id="done").result()
    return settings


def test_eval_job(trained: Settings) -> None:
    sink = ListSink()
    handle = start_eval("done", trained, sinks=[sink])
    assert handle.kind == "eval"
    assert handle.job_id.startswith("eval-done-")
    outcome = handle.result()
    assert outcome["loss_unit"] == "char"
    assert outcome["num_chars"] > 0
    assert outcome["bits_per_char"] > 0.0
    assert [event["type"] for event in sink.events] == LIFECYCLE


def test_score_job_loads_the_model_and_scores(trained: Settings) -> None:
    sink = ListSink()
    cfg = score_config(text="The quick brown fox.", detail_level="per_char", top_k=2)
    handle = start_score("done", cfg, trained, sinks=[sink])
    outcome = handle.result()
    assert handle.prepared is not None
    assert outcome["num_chars"] == 20
    assert len(outcome.get("per_char", [])) == 20
    assert [event["type"] for event in sink.events] == LIFECYCLE
    completed = sink.events[-1]
    assert completed == {**completed, "result_id": "done"}
    events = read_events(Path(trained["runs_dir"]) / "done" / "events.jsonl")
    assert events[-2:] == sink.events


def test_generate_job_samples(trained: Settings) -> None:
    cfg = generate_config(prompt_text="The ", max_new_tokens=12, num_return_sequences=2, seed=1)
    handle = start_generate("done", cfg, trained)
    outcome = handle.result()
    assert handle.prepared is not None
    assert len(outcome["outputs"]) == 2
    assert [event["type"] for event in handle.events] == LIFECYCLE


def test_jobs_need_a_saved_model(tmp_path: Path, trained: Settings) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:2000], encoding="utf-8")
    diverging = train_config(
        model_size="tiny",
        corpus_path=str(corpus),
        max_seq_len=16,
        batch_size=4,
        max_steps_per_epoch=2,
        learning_rate=1e30,
        grad_clip=0.0,
        warmup_steps=0,
        device="cpu",
    )
    failed = start_train(diverging, trained, run_id="unfinished")
    failed.wait(30.0)
    for start in (
        lambda: start_eval("unfinished", trained),
        lambda: start_score("unfinished", score_config(text="x"), trained),
        lambda: start_generate("unfinished", generate_config(prompt_text="x"), trained),
    ):
        with pytest.raises(ModelTrainerError) as raised:
            start()
        assert raised.value.code == "MODEL_NOT_FOUND"
        assert "has no saved model yet (it is failed)" in raised.value.message
    with pytest.raises(ModelTrainerError, match="INVALID_CONFIG"):
        start_score("done", {**score_config(text="x"), "text": None}, trained)
    with pytest.raises(ModelTrainerError, match="INVALID_CONFIG"):
        start_generate("done", {**generate_config(prompt_text="x"), "top_p": 2.0}, trained)


@pytest.mark.parametrize(("kind", "vocab"), [("char", 0), ("bpe", 300)])
def test_tokenizer_job_trains_and_saves(
    tmp_path: Path, settings: Settings, kind: str, vocab: int
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:3000], encoding="utf-8")
    out = tmp_path / "tok.json"
    handle = start_tokenizer(
        corpus_path=str(corpus),
        kind="bpe" if kind == "bpe" else "char",
        vocab_size=max(vocab, 1),
        out_path=str(out),
        settings=settings,
    )
    outcome = handle.result()
    assert (handle.run_id, handle.run_dir) == ("", "")
    tokenizer = load_tokenizer(str(out))
    assert outcome == {
        "path": str(out),
        "kind": kind,
        "vocab_size": tokenizer.vocab_size,
        "tokenizer_id": tokenizer.tokenizer_id,
        "corpus_chars": 3000,
    }
    assert handle.events[-1] == {**handle.events[-1], "result_id": str(out)}
    assert json.dumps(outcome)


def test_tokenizer_job_errors(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(ModelTrainerError, match="out_path must be a file path"):
        start_tokenizer(corpus_path="x", kind="char", vocab_size=1, out_path="", settings=settings)
    handle = start_tokenizer(
        corpus_path=str(tmp_path / "none.txt"),
        kind="char",
        vocab_size=1,
        out_path=str(tmp_path / "tok.json"),
        settings=settings,
    )
    with pytest.raises(ModelTrainerError) as raised:
        handle.result()
    assert raised.value.code == "CORPUS_NOT_FOUND"
    assert handle.state == "failed"

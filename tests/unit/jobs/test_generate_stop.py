"""A long generation stops at the next token when its job is cancelled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import generate_config, train_config
from model_trainer.core.contracts.validators import validate_generate_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.generate_job import start_generate
from model_trainer.core.jobs.job_store import read_job
from model_trainer.core.jobs.train_job import start_train


def test_a_huge_max_new_tokens_is_refused() -> None:
    with pytest.raises(ModelTrainerError) as raised:
        validate_generate_config(generate_config(prompt_text="x", max_new_tokens=10_000_000))
    assert raised.value.code == "INVALID_CONFIG"
    assert raised.value.message == "max_new_tokens must be an integer in [1, 100_000], got 10000000"
    validate_generate_config(generate_config(prompt_text="x", max_new_tokens=100_000))


def test_cancel_stops_a_long_generation(tmp_path: Path, settings: Settings) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:3000], encoding="utf-8")
    cfg = train_config(
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
    )
    start_train(cfg, settings, run_id="done").result()
    long = generate_config(prompt_text="x", max_new_tokens=100_000, top_k=1)
    handle = start_generate("done", long, settings)
    deadline = time.monotonic() + 30.0
    while handle.prepared is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.3)
    handle.cancel()
    stopped = time.monotonic()
    with pytest.raises(ModelTrainerError) as raised:
        handle.result()
    assert time.monotonic() - stopped < 5.0
    assert raised.value.code == "TRAINING_CANCELLED"
    assert raised.value.message.startswith("generation from run 'done' was stopped after ")
    assert raised.value.message.endswith(" sampled token(s) of max_new_tokens=100000")
    assert handle.state == "cancelled"
    assert read_job(Path(handle.run_dir))["state"] == "completed"

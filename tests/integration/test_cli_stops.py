"""Stops from the command line: Ctrl-C before a run's first step, and during a long sampling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.jobs.train_job import start_train


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "model_trainer", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "MODEL_TRAINER_NUM_THREADS": "1"}


@pytest.mark.slow
def test_ctrl_c_before_the_first_step_says_there_is_nothing_to_resume(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    text = builtin_text()
    corpus.write_text(text * (3_000_000 // len(text) + 1), encoding="utf-8")
    runs = tmp_path / "runs"
    events = runs / "early" / "events.jsonl"
    train = _command(
        "train",
        "--family", "char_lstm",
        "--size", "tiny",
        "--corpus", str(corpus),
        "--device", "cpu",
        "--runs-dir", str(runs),
        "--run-id", "early",
    )  # fmt: skip
    process = subprocess.Popen(train, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60.0
    while not (events.is_file() and "trainer.job.started" in events.read_text("utf-8")):
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.005)
    time.sleep(0.1)  # the command is waiting on its job now
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err.decode()[-3000:]
    assert "trainer.metrics.progress" not in events.read_text("utf-8")
    assert (
        "run early cancelled after 0 epoch(s); it stopped before its first checkpoint: "
        "there is nothing to resume" in err.decode()
    )
    resumed = subprocess.run(
        _command("resume", "early", "--runs-dir", str(runs)),
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert resumed.returncode == 2
    assert "has no checkpoint to resume from" in resumed.stderr


@pytest.mark.slow
def test_ctrl_c_ends_a_long_generation_and_a_huge_one_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:5000], encoding="utf-8")
    runs = tmp_path / "runs"
    cfg = train_config(
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
    )
    settings = with_overrides(load_settings({}), runs_dir=str(runs))
    start_train(cfg, settings, run_id="done").result()

    huge = subprocess.run(
        _command("generate", "done", "--prompt", "x", "--max-new-tokens", "10000000",
                 "--runs-dir", str(runs)),
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert huge.returncode == 2
    assert "max_new_tokens must be an integer in [1, 100_000], got 10000000" in huge.stderr

    long = _command(
        "generate", "done", "--prompt", "x", "--max-new-tokens", "100000", "--top-k", "1",
        "--runs-dir", str(runs),
    )  # fmt: skip
    process = subprocess.Popen(long, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    events = runs / "done" / "events.jsonl"
    deadline = time.monotonic() + 60.0
    while '"kind":"generate"' not in events.read_text("utf-8"):
        assert time.monotonic() < deadline, "the generation never started"
        time.sleep(0.01)
    time.sleep(1.0)  # 100_000 greedy tokens take far longer: it still samples
    assert process.poll() is None, process.communicate()[1].decode()[-3000:]
    process.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    _out, err = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 10.0
    assert process.returncode == 130, err.decode()[-3000:]
    assert "error[TRAINING_CANCELLED]: generation from run 'done' was stopped after" in (
        err.decode()
    )

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_trainer.cli import build_parser
from model_trainer.cli_configs import train_config_of
from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.trainer_metrics_events import is_epoch
from model_trainer.core.jobs.report import run_history
from model_trainer.core.jobs.train_job import start_train

RUN = "killed"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "model_trainer", *args]


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MODEL_TRAINER_NUM_THREADS": "1",
        "MODEL_TRAINER_PROGRESS_INTERVAL_S": "0.2",
        **extra,
    }


def _train(corpus: Path, runs: Path, run_id: str) -> list[str]:
    return _command(
        "train",
        "--family", "char_lstm",
        "--size", "tiny",
        "--corpus", str(corpus),
        "--epochs", "3",
        "--batch-size", "8",
        "--max-seq-len", "32",
        "--max-steps-per-epoch", "40",
        "--seed", "5",
        "--device", "cpu",
        "--runs-dir", str(runs),
        "--run-id", run_id,
        "--json",
    )  # fmt: skip


def _epoch_losses(folder: Path) -> list[tuple[int, float, float | None]]:
    history = run_history(read_events(folder / "events.jsonl"))
    return [(p["epoch"], p["train_loss"], p["val_loss"]) for p in history["epochs"]]


def _epochs_written(events: Path) -> int:
    if not events.is_file():
        return 0
    return sum(1 for event in read_events(events) if is_epoch(event))


@pytest.mark.slow
def test_killed_run_is_failed_then_resumes_to_the_same_losses(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:16_000], encoding="utf-8")
    runs = tmp_path / "runs"
    folder = runs / RUN
    events = folder / "events.jsonl"

    process = subprocess.Popen(
        _train(corpus, runs, RUN), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120.0
    while _epochs_written(events) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert _epochs_written(events) == 1, "the kill must land in the second epoch"

    listed = subprocess.run(
        _command("runs", "--runs-dir", str(runs), "--json"),
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    (run,) = json.loads(listed.stdout)
    assert (run["run_id"], run["state"], run["epochs_done"]) == (RUN, "failed", 1)
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    assert job["error_code"] == "INTERNAL_ERROR"
    assert "ended without recording an end" in job["error_message"]

    resumed = subprocess.run(
        _command("resume", RUN, "--runs-dir", str(runs), "--json"),
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(resumed.stdout)["epochs_completed"] == 3

    same = train_config_of(build_parser().parse_args(_train(corpus, runs, "straight")[3:]))
    settings = with_overrides(load_settings({"MODEL_TRAINER_NUM_THREADS": "1"}), runs_dir=str(runs))
    assert start_train(same, settings, run_id="straight").result()["epochs_completed"] == 3
    assert _epoch_losses(folder) == _epoch_losses(runs / "straight")
    assert [epoch for epoch, _, _ in _epoch_losses(folder)] == [1, 2, 3]

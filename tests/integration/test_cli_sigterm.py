"""SIGTERM stops a command-line run as Ctrl-C does: a checkpoint, ``cancelled``, status 143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.job_events import is_failed
from model_trainer.core.events.trainer_metrics_events import is_epoch, is_progress_metrics
from model_trainer.core.training.checkpoint import latest_name

RUN = "terminated"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "model_trainer", *args]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "MODEL_TRAINER_NUM_THREADS": "1",
        "MODEL_TRAINER_PROGRESS_INTERVAL_S": "0.05",
    }


def _steps_written(events: Path) -> int:
    if not events.is_file():
        return 0
    return sum(1 for event in read_events(events) if is_progress_metrics(event))


@pytest.mark.slow
def test_sigterm_checkpoints_records_cancelled_and_the_run_resumes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:16_000], encoding="utf-8")
    runs = tmp_path / "runs"
    folder = runs / RUN
    events = folder / "events.jsonl"
    train = _command(
        "train",
        "--family", "char_lstm",
        "--size", "tiny",
        "--corpus", str(corpus),
        "--epochs", "2",
        "--batch-size", "8",
        "--max-seq-len", "32",
        "--max-steps-per-epoch", "400",
        "--seed", "5",
        "--device", "cpu",
        "--runs-dir", str(runs),
        "--run-id", RUN,
        "--json",
    )  # fmt: skip
    process = subprocess.Popen(train, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120.0
    while _steps_written(events) < 3:
        assert time.monotonic() < deadline, "no training steps in time"
        assert process.poll() is None, process.communicate()[1].decode()[-3000:]
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err.decode()[-3000:]
    outcome = json.loads(out)
    assert outcome["cancelled"]
    assert (
        outcome["epochs_completed"] < 2
    )  # the signal lands in epoch 1 or 2, by the machine's pace
    assert outcome["steps"] > 0
    assert "cancelling: stopping at the next step" in err.decode()
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    assert (job["state"], job["error_code"]) == ("cancelled", "TRAINING_CANCELLED")
    assert latest_name(str(folder / "checkpoint")) == f"ckpt-{outcome['steps']}"
    last = read_events(events)[-1]
    assert is_failed(last)
    assert last["code"] == "TRAINING_CANCELLED"

    resumed = subprocess.run(
        _command("resume", RUN, "--runs-dir", str(runs), "--json"),
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(resumed.stdout)["epochs_completed"] == 2
    assert [event["epoch"] for event in read_events(events) if is_epoch(event)] == [1, 2]

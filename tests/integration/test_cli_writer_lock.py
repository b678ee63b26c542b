"""One writer per run: a paused training process keeps its run; a killed one is dead at once."""

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
from model_trainer.core.events.trainer_metrics_events import is_progress_metrics
from model_trainer.core.training.checkpoint import latest_name

RUN = "paused"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "model_trainer", *args]


def _env(heartbeat_timeout_s: str) -> dict[str, str]:
    return {
        **os.environ,
        "MODEL_TRAINER_NUM_THREADS": "1",
        "MODEL_TRAINER_PROGRESS_INTERVAL_S": "0.05",
        "MODEL_TRAINER_HEARTBEAT_TIMEOUT_S": heartbeat_timeout_s,
    }


def _steps_written(events: Path) -> int:
    if not events.is_file():
        return 0
    return sum(1 for event in read_events(events) if is_progress_metrics(event))


def _runs(runs: Path, heartbeat_timeout_s: str) -> list[dict[str, object]]:
    done = subprocess.run(
        _command("runs", "--runs-dir", str(runs), "--json"),
        env=_env(heartbeat_timeout_s),
        capture_output=True,
        text=True,
        check=True,
    )
    listed: list[dict[str, object]] = json.loads(done.stdout)
    return listed


@pytest.mark.slow
def test_a_paused_writer_keeps_its_run_and_a_killed_one_is_dead_at_once(tmp_path: Path) -> None:
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
        "--checkpoint-every-steps", "2",
        "--seed", "5",
        "--device", "cpu",
        "--runs-dir", str(runs),
        "--run-id", RUN,
        "--json",
    )  # fmt: skip
    process = subprocess.Popen(
        train, env=_env("60"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120.0
    while _steps_written(events) < 3 or latest_name(str(folder / "checkpoint")) is None:
        assert time.monotonic() < deadline, "no training steps in time"
        assert process.poll() is None, process.communicate()[1].decode()[-3000:]
        time.sleep(0.02)

    process.send_signal(signal.SIGSTOP)
    time.sleep(1.5)
    # Paused past its heartbeat timeout, it still holds its run: never called dead.
    assert [(run["run_id"], run["state"]) for run in _runs(runs, "0.5")] == [(RUN, "running")]
    refused = subprocess.run(
        _command("resume", RUN, "--runs-dir", str(runs), "--json"),
        env=_env("0.5"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert f"run_id {RUN!r} is being written by process {process.pid}" in refused.stderr
    assert json.loads((folder / "job.json").read_text(encoding="utf-8"))["state"] == "running"

    process.send_signal(signal.SIGKILL)
    process.communicate()
    # Killed: dead at once, however patient the heartbeat timeout.
    (run,) = _runs(runs, "3600")
    assert (run["run_id"], run["state"]) == (RUN, "failed")
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    assert job["error_code"] == "INTERNAL_ERROR"
    assert f"process {process.pid} ended without recording an end" in job["error_message"]

    resumed = subprocess.run(
        _command("resume", RUN, "--runs-dir", str(runs), "--json"),
        env=_env("3600"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["epochs_completed"] == 2

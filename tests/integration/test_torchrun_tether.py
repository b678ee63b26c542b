"""A torchrun launch does not outlive the process that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.distributed.tether import ORPHANED, PARENT_ENV

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MODEL_TRAINER_NUM_THREADS": "1"}

PARENT = textwrap.dedent(
    """
    import json, sys, threading
    from model_trainer import api

    job = api.launch_distributed(
        json.loads(sys.argv[1]), nproc_per_node=2, runs_dir=sys.argv[2], run_id="tied",
        show=False,
    )
    while job.work.pid is None:
        threading.Event().wait(0.05)
    print(job.work.pid, flush=True)
    threading.Event().wait()
    """
)


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return []
    return [
        int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()
    ]


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.is_file() and "\nState:\tZ" not in status.read_text()


def _wait(condition: str, until: float, check: Callable[[], bool]) -> None:
    while not check():
        assert time.monotonic() < until, condition
        time.sleep(0.05)


@pytest.mark.slow
def test_the_ranks_end_when_their_launching_process_is_killed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:30_000], encoding="utf-8")
    config = {
        "model_family": "char_lstm",
        "model_size": "tiny",
        "corpus_path": str(corpus),
        "max_seq_len": 32,
        "batch_size": 8,
        "num_epochs": 1000,
        "device": "cpu",
        "precision": "fp32",
    }
    runs = tmp_path / "runs"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, json.dumps(config), str(runs)],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    torchrun = int(parent.stdout.readline())
    until = time.monotonic() + 180
    events = runs / "tied" / "events.jsonl"
    _wait("no step trained", until, lambda: events.is_file() and "progress" in events.read_text())
    ranks = _children(torchrun)
    assert len(ranks) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    _wait(
        "torchrun or a rank outlived its launcher",
        until,
        lambda: not any(_alive(pid) for pid in (torchrun, *ranks)),
    )


def test_a_launch_whose_launcher_already_ended_does_not_start() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "model_trainer.core.distributed.tether", "--help"],
        env={**ENV, PARENT_ENV: "1"},  # not this test's process, the launcher's parent
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == ORPHANED
    assert done.stderr.startswith("torchrun not started: its launching process ")

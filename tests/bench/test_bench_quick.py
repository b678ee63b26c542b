"""Every bench script runs in ``--quick`` mode and prints only well-formed figure lines.

Nothing here checks a timing: the figures of a smoke run on a busy test machine mean
nothing. What is checked is that each script still runs against the current API and that
its output stays machine-readable.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))
EXPECTED = {
    "bench_corpus.py",
    "bench_data.py",
    "bench_evolution.py",
    "bench_generate.py",
    "bench_gpt2_vs_minimal.py",
    "bench_gpu.py",
    "bench_hf_trainer.py",
    "bench_large_inputs.py",
    "bench_memory.py",
    "bench_pretrained.py",
    "bench_score.py",
    "bench_sinks.py",
    "bench_time_to_loss.py",
    "bench_sweep.py",
    "bench_train_loop.py",
}
NUMBERS = ("ours", "baseline", "ratio", "target")
TIMEOUT_S = 300


def test_every_comparison_has_a_script() -> None:
    assert {script.name for script in SCRIPTS} == EXPECTED


def check_figure(line: str) -> str:
    """Parse one output line; return the figure's name once its fields are checked."""
    figure: object = json.loads(line)
    assert isinstance(figure, dict)
    assert isinstance(figure["name"], str)
    assert figure["name"]
    assert isinstance(figure["unit"], str)
    for key in NUMBERS:
        value = figure[key]
        assert isinstance(value, int | float), key
        assert math.isfinite(value), key
    assert figure["rounds"] == 1
    return figure["name"]


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_quick_run_prints_figures(script: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=BENCH.parent,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    names = [check_figure(line) for line in lines]
    assert len(set(names)) == len(names)

"""Inputs of the size users have: peak memory and the wait at an epoch's end.

Three figures, each from child processes of the command line in a temporary runs folder:

- ``score_per_char_json_peak_rss``: ``score RUN --path TEXT --per-char --top-k 5 --json``
  on a 5 MB text (50 kB quick), its output sent to ``/dev/null``; the baseline is the budget
  of 1.5 GiB, the ratio the budget over the peak (at least 1 is within it).
- ``large_corpus_run_peak_rss``: a 20-step run (2 quick) with the default settings on a
  generated corpus of over 200M characters (2M quick); the baseline is a budget of 4 GiB.
- ``epoch_end_wait``: seconds from the epoch's last training reading to its epoch event in
  that run (the closing validation, a fixed sample by default), against the same run with
  ``--epoch-eval-max-tokens 0`` (the whole validation split) as the baseline.

Each child's peak is its own ``ru_maxrss`` (``os.wait4``). One round: the runs are long.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import harness
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.trainer_metrics_events import is_epoch, is_progress_metrics
from model_trainer.core.jobs.run_store import EVENTS_FILE

KIB_PER_MIB = 1024.0
SCORE_BUDGET_MIB = 1536.0
RUN_BUDGET_MIB = 4096.0
CLI = [sys.executable, "-m", "model_trainer"]


def peak_mib(command: list[str], *, out: int = subprocess.DEVNULL) -> float:
    """Run ``command`` as a child; its own peak resident memory in MiB (it must succeed)."""
    child = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}")
    return usage.ru_maxrss / KIB_PER_MIB


def write_text(path: Path, chars: int) -> Path:
    """``chars`` characters of English text at ``path``, written a block at a time."""
    block = builtin_text()
    with path.open("w", encoding="utf-8") as out:
        for first in range(0, chars, len(block)):
            out.write(f"{first}\n{block}"[: chars - first])
    return path


def epoch_end_wait(run_dir: Path) -> float:
    """Seconds from the first epoch's last training reading to its epoch event."""
    events = read_events(run_dir / EVENTS_FILE)
    end = next(event for event in events if is_epoch(event))
    last = [e for e in events if is_progress_metrics(e) and e["epoch"] == end["epoch"]][-1]
    return end.get("ts", 0.0) - last.get("ts", 0.0)


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    quick = opts["quick"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = str(folder / "runs")
        corpus = write_text(folder / "corpus.txt", 2_000_000 if quick else 201_000_000)
        steps = "2" if quick else "20"
        model = ["--family", "char_lstm", "--size", "tiny"] if quick else []
        train = [*CLI, "train", "--corpus", str(corpus), "--epochs", "1", *model]
        train += ["--max-steps-per-epoch", steps, "--runs-dir", runs]
        run_peak = peak_mib([*train, "--run-id", "sampled"])
        peak_mib([*train, "--run-id", "whole", "--epoch-eval-max-tokens", "0"])
        waits = [epoch_end_wait(folder / "runs" / name) for name in ("sampled", "whole")]
        text = write_text(folder / "text.txt", 50_000 if quick else 5_000_000)
        score = [*CLI, "score", "sampled", "--path", str(text), "--per-char", "--top-k", "5"]
        score_peak = peak_mib([*score, "--json", "--runs-dir", runs])
    harness.emit(
        harness.figure(
            "score_per_char_json_peak_rss",
            [score_peak],
            [SCORE_BUDGET_MIB],
            unit="MiB",
            target=1.0,
            higher_is_better=False,
        )
    )
    harness.emit(
        harness.figure(
            "large_corpus_run_peak_rss",
            [run_peak],
            [RUN_BUDGET_MIB],
            unit="MiB",
            target=1.0,
            higher_is_better=False,
        )
    )
    harness.emit(
        harness.figure(
            "epoch_end_wait",
            [max(waits[0], 1e-3)],
            [max(waits[1], 1e-3)],
            unit="s",
            target=1.0,
            higher_is_better=False,
        )
    )


if __name__ == "__main__":
    main()

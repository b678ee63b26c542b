"""Side-by-side timing: run two callables alternately (A B A B ...) and print one JSON line.

Absolute times drift on a shared machine; the ratio of medians taken in one run is the figure.
Every script takes ``--quick`` (tiny sizes, one round, one thread: a smoke run that tests
call), ``--rounds`` and ``--threads``; ``--profile`` prints each side's top operations to
standard error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Protocol, TypedDict

import torch
from torch.profiler import ProfilerActivity, profile

FULL_THREADS = 2
QUICK_THREADS = 1
PROFILE_ROWS = 5

Measure = Callable[[], float]
"""One side of a comparison: does its work once and returns a rate (or a time)."""


class Figure(TypedDict):
    """One benchmark figure, printed as a JSON line; ``ratio >= target`` is a pass."""

    name: str
    ours: float
    baseline: float
    unit: str
    ratio: float
    target: float
    rounds: int
    ours_spread: float
    baseline_spread: float


class Options(TypedDict):
    """The flags every script takes, read once."""

    quick: bool
    rounds: int
    profile: bool


class _Flags(Protocol):
    quick: bool
    rounds: int
    profile: bool
    threads: int | None


def make_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the flags every bench script takes; a script may add its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round: a smoke run")
    parser.add_argument("--rounds", type=int, default=9, help="measured rounds per side")
    parser.add_argument(
        "--profile", action="store_true", help="print each side's top 5 ops to stderr"
    )
    parser.add_argument(
        "--threads", type=int, help=f"torch threads (default {FULL_THREADS}, quick {QUICK_THREADS})"
    )
    return parser


def threads_for(quick: bool) -> int:
    """Torch threads: two for a measurement, one for a smoke run."""
    return QUICK_THREADS if quick else FULL_THREADS


def start(args: argparse.Namespace) -> Options:
    """Read the common flags, set torch's threads and seed it; a quick run has one round."""
    flags: _Flags = args
    torch.set_num_threads(threads_for(flags.quick) if flags.threads is None else flags.threads)
    torch.manual_seed(0)
    return {
        "quick": flags.quick,
        "rounds": 1 if flags.quick else flags.rounds,
        "profile": flags.profile,
    }


def parse_args(description: str) -> Options:
    """``start`` with the common flags only."""
    return start(make_parser(description).parse_args())


def spread(values: list[float]) -> float:
    """Relative spread: (max - min) / median."""
    mid = statistics.median(values)
    return (max(values) - min(values)) / mid if mid else 0.0


def alternate(
    ours: Callable[[], float],
    baseline: Callable[[], float],
    *,
    rounds: int,
    warmup: int = 1,
) -> tuple[list[float], list[float]]:
    """Call each side ``warmup`` times, then ``rounds`` times alternately; each returns a rate.

    The order flips every round (A B, B A, A B, ...), so neither side always runs first: a
    drift of the machine's speed, or one side warming caches for the other, evens out.
    """
    for _ in range(warmup):
        ours()
        baseline()
    ours_values: list[float] = []
    base_values: list[float] = []
    for index in range(rounds):
        if index % 2 == 0:
            ours_values.append(ours())
            base_values.append(baseline())
        else:
            base_values.append(baseline())
            ours_values.append(ours())
    return ours_values, base_values


def repeat(measure: Callable[[], float], *, rounds: int, warmup: int = 1) -> list[float]:
    """Call ``measure`` ``warmup`` times, then ``rounds`` times; return the measured values."""
    for _ in range(warmup):
        measure()
    return [measure() for _ in range(rounds)]


def figure(
    name: str,
    ours: list[float],
    baseline: list[float],
    *,
    unit: str,
    target: float,
    higher_is_better: bool = True,
) -> Figure:
    """Medians, spreads and the ratio (ours over baseline, or inverted for times)."""
    ours_mid = statistics.median(ours)
    base_mid = statistics.median(baseline)
    ratio = ours_mid / base_mid if higher_is_better else base_mid / ours_mid
    return {
        "name": name,
        "ours": round(ours_mid, 4),
        "baseline": round(base_mid, 4),
        "unit": unit,
        "ratio": round(ratio, 4),
        "target": target,
        "rounds": len(ours),
        "ours_spread": round(spread(ours), 4),
        "baseline_spread": round(spread(baseline), 4),
    }


def emit(fig: Figure) -> None:
    """Print one figure as a JSON line."""
    print(json.dumps(fig), flush=True)


def rate(work: Callable[[], int]) -> float:
    """Run ``work`` (which returns how many units it did) and return units per second."""
    start_time = time.perf_counter()
    units = work()
    return units / (time.perf_counter() - start_time)


def seconds(work: Callable[[], object]) -> float:
    """Run ``work`` and return the wall-clock seconds it took."""
    start_time = time.perf_counter()
    work()
    return time.perf_counter() - start_time


def top_ops(work: Callable[[], object], *, rows: int = PROFILE_ROWS) -> str:
    """Run ``work`` under the CPU profiler; its ``rows`` costliest ops by own time, as a table."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        work()
    return str(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def maybe_profile(opts: Options, label: str, work: Callable[[], object]) -> None:
    """With ``--profile``, print ``work``'s top ops under ``label`` to standard error."""
    if opts["profile"]:
        print(f"== {label}\n{top_ops(work)}", file=sys.stderr, flush=True)

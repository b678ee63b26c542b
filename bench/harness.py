"""Side-by-side timing: run two callables alternately (A B A B ...) and print one JSON line.

Absolute times drift on a shared machine; the ratio of medians taken in one run is the figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import TypedDict


class Figure(TypedDict):
    """One benchmark figure, printed as a JSON line."""

    name: str
    ours: float
    baseline: float
    unit: str
    ratio: float
    target: float
    rounds: int
    ours_spread: float
    baseline_spread: float


def parse_args(description: str) -> argparse.Namespace:
    """The flags every bench script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round: a smoke run")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per side")
    return parser.parse_args()


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
    """Call each side ``warmup`` times, then ``rounds`` times alternately; each returns a rate."""
    for _ in range(warmup):
        ours()
        baseline()
    ours_values: list[float] = []
    base_values: list[float] = []
    for _ in range(rounds):
        ours_values.append(ours())
        base_values.append(baseline())
    return ours_values, base_values


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
    start = time.perf_counter()
    units = work()
    return units / (time.perf_counter() - start)

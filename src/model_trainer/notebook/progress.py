"""Where a run is: steps and epochs done, throughput, time left, and when to redraw.

Everything here is O(1) per event and draws nothing; the panel and the console sink read a
``ProgressSnapshot`` when they redraw. Epochs are shown as the events number them: epoch
``k`` of ``total_epochs``, counted from 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypedDict

from model_trainer.core.events.trainer_metrics_events import (
    TrainerConfigV1,
    TrainerEpochMetricsV1,
    TrainerProgressMetricsV1,
)


class Throttle:
    """Lets an action through at most once per ``min_interval_s`` of ``clock``."""

    def __init__(
        self, min_interval_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last = -math.inf

    def take(self) -> bool:
        """True (and the interval starts again) when the last pass was long enough ago."""
        now = self._clock()
        if now - self._last < self.min_interval_s:
            return False
        self._last = now
        return True

    def mark(self) -> None:
        """Record a pass made regardless of the interval (a forced redraw)."""
        self._last = self._clock()


class ProgressSnapshot(TypedDict):
    """The progress of a run at one moment; ``total_steps`` is 0 when not known."""

    step: int
    total_steps: int
    epoch: int
    total_epochs: int
    loss: float | None
    tokens_per_second: float
    elapsed_s: float
    eta_s: float | None


class ProgressTracker:
    """Follows config, progress and epoch events; O(1) work per event."""

    def __init__(self) -> None:
        self._step = 0
        self._steps_per_epoch = 0
        self._epoch = 0
        self._total_epochs = 0
        self._loss: float | None = None
        self._tokens_per_second = 0.0
        self._elapsed_s = 0.0
        self._first: tuple[int, float] | None = None

    def on_config(self, event: TrainerConfigV1) -> None:
        """Take the planned epochs and, if known, steps per epoch."""
        self._total_epochs = event["total_epochs"]
        self._steps_per_epoch = event.get("steps_per_epoch", self._steps_per_epoch)

    def on_progress(self, event: TrainerProgressMetricsV1) -> None:
        """Take one training step's figures."""
        if self._first is None:
            self._first = (event["step"], event["elapsed_s"])
        self._step = event["step"]
        self._steps_per_epoch = event["steps_per_epoch"]
        self._epoch = event["epoch"]
        self._total_epochs = event["total_epochs"]
        self._loss = event["loss"]
        self._tokens_per_second = event["tokens_per_second"]
        self._elapsed_s = event["elapsed_s"]

    def on_epoch(self, event: TrainerEpochMetricsV1) -> None:
        """Take the end of an epoch: its last step and its average throughput.

        The epoch's ``elapsed_s`` is its own training time, not the job's clock: the time
        elapsed and left stay those of the progress events.
        """
        self._step = event["global_step"]
        self._epoch = event["epoch"]
        self._total_epochs = event["total_epochs"]
        self._tokens_per_second = event["tokens_per_second"]

    def snapshot(self) -> ProgressSnapshot:
        """The progress now, with the time left at the speed seen since the first event."""
        total = self._steps_per_epoch * self._total_epochs
        return {
            "step": self._step,
            "total_steps": total,
            "epoch": self._epoch,
            "total_epochs": self._total_epochs,
            "loss": self._loss,
            "tokens_per_second": self._tokens_per_second,
            "elapsed_s": self._elapsed_s,
            "eta_s": self._eta(total),
        }

    def _eta(self, total: int) -> float | None:
        if self._first is None or total <= 0:
            return None
        first_step, first_elapsed = self._first
        steps = self._step - first_step
        seconds = self._elapsed_s - first_elapsed
        if steps <= 0 or seconds <= 0.0:
            return None
        return max(total - self._step, 0) * seconds / steps


def progress_fraction(snapshot: ProgressSnapshot) -> float | None:
    """Steps done over steps planned, in [0, 1]; None when the plan is not known."""
    if snapshot["total_steps"] <= 0:
        return None
    return min(max(snapshot["step"] / snapshot["total_steps"], 0.0), 1.0)


def format_duration(seconds: float | None) -> str:
    """``MM:SS`` below an hour, ``H:MM:SS`` from one, ``--:--`` when not known."""
    if seconds is None:
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def format_rate(tokens_per_second: float) -> str:
    """Tokens per second, short: ``850 tok/s``, ``12.3k tok/s``, ``4.56M tok/s``."""
    if tokens_per_second >= 1e6:
        return f"{tokens_per_second / 1e6:.2f}M tok/s"
    if tokens_per_second >= 1e3:
        return f"{tokens_per_second / 1e3:.1f}k tok/s"
    return f"{tokens_per_second:.0f} tok/s"


def progress_text(snapshot: ProgressSnapshot) -> str:
    """One line: steps, epoch, throughput and time left."""
    total = str(snapshot["total_steps"]) if snapshot["total_steps"] > 0 else "?"
    return (
        f"step {snapshot['step']}/{total} · epoch {snapshot['epoch']}/{snapshot['total_epochs']}"
        f" · {format_rate(snapshot['tokens_per_second'])}"
        f" · {format_duration(snapshot['elapsed_s'])} elapsed"
        f" · {format_duration(snapshot['eta_s'])} left"
    )

"""What the loop reads besides the run config: the settings' reading interval."""

from __future__ import annotations

from typing import Final, NotRequired, TypedDict


class LoopOptions(TypedDict):
    """What ``BaseTrainer.train_epochs`` reads besides the run config.

    ``progress_interval_s`` is the settings' (how often the loss leaves the device);
    ``eval_quiet_s`` (default ``EVAL_QUIET_S``) how long an epoch's closing validation runs
    before it reports its progress.
    """

    progress_interval_s: float
    eval_quiet_s: NotRequired[float]


EVAL_QUIET_S: Final = 2.0
"""Seconds an epoch's closing validation runs before it reports its progress."""
EVAL_STAGE: Final = "evaluating the validation split"

"""Stopping a job on SIGTERM or SIGINT, as Ctrl-C or a Stop button would."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_signals(stop: Callable[[int], None]) -> Iterator[None]:
    """Call ``stop(signal number)`` on SIGTERM or SIGINT inside the block (main thread only).

    The handlers in place before the block come back after it.
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop(signum)

    kept = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in kept:
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, previous in kept.items():
            signal.signal(number, signal.SIG_DFL if previous is None else previous)


def signal_status(signum: int) -> int:
    """The exit status of a process ended by signal ``signum``: 128 + its number."""
    return 128 + signum

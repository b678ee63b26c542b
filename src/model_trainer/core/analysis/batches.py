"""Documents read ahead in windows, sorted by length and packed under a token budget."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

ItemT = TypeVar("ItemT")


def windows(items: Iterable[ItemT], size: int) -> Iterator[list[ItemT]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter)."""
    stream = iter(items)
    while window := list(islice(stream, size)):
        yield window


def pack(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """The indices of ``lengths``, longest first, in batches of at most ``budget`` padded items.

    A batch of ``n`` rows padded to its longest row ``m`` holds ``n * m`` items; a row longer
    than ``budget`` is a batch by itself.
    """
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    batches: list[list[int]] = []
    for index in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= budget:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches

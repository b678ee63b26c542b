"""The resources a run reports in its config event: CPU cores, memory, threads, workers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, TypedDict

import torch

DATA_WORKERS: Final = 0
"""Batches are cut from the in-memory token cache on the training thread: no loader workers."""

_MB: Final = 2**20


class Resources(TypedDict):
    """The config event's resource fields; None where the platform cannot tell."""

    cpu_cores: int | None
    memory_mb: int | None
    optimal_threads: int
    optimal_workers: int


def resources(*, cpu_count: int | None, memory_bytes: int | None, threads: int) -> Resources:
    """The resource fields from what was measured: memory in whole MiB, ``DATA_WORKERS`` workers."""
    return {
        "cpu_cores": cpu_count,
        "memory_mb": None if memory_bytes is None else memory_bytes // _MB,
        "optimal_threads": threads,
        "optimal_workers": DATA_WORKERS,
    }


def memory_bytes(sysconf_names: Mapping[str, int]) -> int | None:
    """Physical memory from ``os.sysconf``; None where it has no page counts (Windows)."""
    if "SC_PAGE_SIZE" not in sysconf_names or "SC_PHYS_PAGES" not in sysconf_names:
        return None
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def measure_resources() -> Resources:
    """This machine's resources, with the thread count torch uses now."""
    names: Mapping[str, int] = getattr(os, "sysconf_names", {})
    return resources(
        cpu_count=os.cpu_count(), memory_bytes=memory_bytes(names), threads=torch.get_num_threads()
    )

"""The resources a run reports in its config event: CPU cores, memory, threads, workers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
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


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii", errors="replace").splitlines() if path.is_file() else []


def _kib(path: Path, key: str) -> int | None:
    """The ``key:`` line of a ``/proc`` status file, in bytes; None where there is none."""
    for line in _lines(path):
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0]) * 1024
    return None


def _address_limit(path: Path) -> int | None:
    """The soft address-space limit (``ulimit -v``) in ``/proc/<pid>/limits``; None: none."""
    for line in _lines(path):
        if line.startswith("Max address space"):
            soft = line.removeprefix("Max address space").split()[0]
            return None if soft == "unlimited" else int(soft)
    return None


def available_memory(proc: Path = Path("/proc")) -> int | None:
    """The bytes this process can still take: the host's available memory, within its limit.

    The host's ``MemAvailable``, less where the address-space limit (``ulimit -v``) leaves
    less room above what the process maps now; read from ``proc`` (Linux's ``/proc``), None
    where it tells neither.
    """
    host = _kib(proc / "meminfo", "MemAvailable")
    limit = _address_limit(proc / "self" / "limits")
    mapped = _kib(proc / "self" / "status", "VmSize")
    if limit is None or mapped is None:
        return host
    room = max(limit - mapped, 0)
    return room if host is None else min(host, room)

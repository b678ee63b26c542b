"""Device and precision choice: pure functions of what the machine has."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from model_trainer.core.contracts.model import DeviceName, Precision
from model_trainer.core.contracts.validators import check_device
from model_trainer.core.errors import ModelTrainerError

ResolvedPrecision = Literal["fp32", "bf16"]


def resolve_device(requested: DeviceName, *, cuda: bool, mps: bool, count: int) -> str:
    """Pick ``cuda``, ``cuda:N``, ``mps`` or ``cpu``; ``auto`` takes the fastest present.

    ``count`` is how many CUDA devices there are: ``cuda:N`` needs ``N < count``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``device`` and the value for a name that
            is no device; ``CUDA_NOT_AVAILABLE`` naming the device when the machine lacks it
            (for ``cuda:N``, with how many CUDA devices there are).
    """
    check_device("device", requested)
    kind, _, index = requested.partition(":")
    if kind == "cuda" and not cuda:
        raise ModelTrainerError(
            "CUDA_NOT_AVAILABLE",
            f"device {requested!r} was asked for, but no CUDA device is present",
        )
    if index and int(index) >= count:
        names = ", ".join(f"cuda:{number}" for number in range(count))
        raise ModelTrainerError(
            "CUDA_NOT_AVAILABLE",
            f"device {requested!r} was asked for, but this machine has {count} CUDA "
            f"device{'' if count == 1 else 's'} ({names})",
        )
    if requested == "mps" and not mps:
        raise ModelTrainerError(
            "CUDA_NOT_AVAILABLE", "device 'mps' was asked for, but no MPS device is present"
        )
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    return requested


def cuda_count() -> int:
    """How many CUDA devices this machine has (0 without CUDA)."""
    return torch.cuda.device_count()


def available_device(requested: DeviceName) -> str:
    """``resolve_device`` for this machine."""
    return resolve_device(
        requested,
        cuda=torch.cuda.is_available(),
        mps=torch.backends.mps.is_available(),
        count=cuda_count(),
    )


def resolve_precision(precision: Precision, device: str) -> ResolvedPrecision:
    """``auto`` is bf16 on CUDA (fast there) and fp32 elsewhere (bf16 is slower on CPUs)."""
    if precision == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    return precision


@contextlib.contextmanager
def autocast(device: str, precision: ResolvedPrecision) -> Iterator[None]:
    """bf16 autocast on ``device`` when asked, else nothing."""
    with torch.autocast(
        device_type=device.split(":", maxsplit=1)[0],
        dtype=torch.bfloat16,
        enabled=precision == "bf16",
    ):
        yield

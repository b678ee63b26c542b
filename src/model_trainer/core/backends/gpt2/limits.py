"""What a GPT-2 may be: its positions and the memory its training takes, checked before it is built.

A GPT-2 has ``max_seq_len`` learned positions (``n_positions``); attention over a window
grows with its square, so this kit trains at most ``MAX_POSITIONS``. Training holds four
float32 numbers a parameter (the weights, their gradients and Adam's two moments); a model
whose numbers would not fit in the memory it trains in (the free memory of a CUDA device,
else the host's physical memory) is refused before anything is allocated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Final

import torch

from model_trainer.core.backends.gpt2 import GPT2Shape
from model_trainer.core.config.resources import memory_bytes
from model_trainer.core.errors import ModelTrainerError

MAX_POSITIONS: Final = 8192
TRAINING_BYTES_PER_PARAMETER: Final = 16
_GB: Final = 1e9

FreeCuda = Callable[[torch.device], tuple[int, int]]
"""``torch.cuda.mem_get_info``: free and total bytes of a CUDA device."""


def gpt2_parameters(shape: GPT2Shape, *, vocab_size: int, n_positions: int) -> int:
    """The parameter count of a GPT-2 of ``shape`` (embeddings tied to the output layer)."""
    width = shape["n_embd"]
    # attention 4 d^2 + 4 d, MLP 8 d^2 + 5 d, two layer norms 4 d
    per_layer = 12 * width * width + 13 * width
    return shape["n_layer"] * per_layer + (vocab_size + n_positions) * width + 2 * width


def training_memory(
    device: str,
    *,
    free_cuda: FreeCuda = torch.cuda.mem_get_info,
    sysconf_names: Mapping[str, int] | None = None,
) -> tuple[int | None, str]:
    """The bytes a model trains in on ``device`` and what they are (None: cannot tell)."""
    if device.startswith("cuda"):
        free, _total = free_cuda(torch.device(device))
        return free, f"free memory of {device}"
    names: Mapping[str, int] = (
        getattr(os, "sysconf_names", {}) if sysconf_names is None else sysconf_names
    )
    return memory_bytes(names), "host memory"


def check_gpt2_size(
    shape: GPT2Shape,
    *,
    max_seq_len: int,
    vocab_size: int,
    model_size: str,
    memory: tuple[int | None, str],
) -> None:
    """Refuse a GPT-2 longer than ``MAX_POSITIONS`` or too large for ``memory`` to train.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``max_seq_len`` and its limit, or the
            fields that size the model (``model_size``, ``max_seq_len``, ``vocab_size``), its
            parameters, the bytes training them needs and the memory there is.
    """
    if max_seq_len > MAX_POSITIONS:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"max_seq_len must be at most {MAX_POSITIONS} for gpt2 (its n_positions; attention "
            f"memory grows with its square), got {max_seq_len}",
        )
    available, where = memory
    params = gpt2_parameters(shape, vocab_size=vocab_size, n_positions=max_seq_len)
    needed = params * TRAINING_BYTES_PER_PARAMETER
    if available is not None and needed > available:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"model_size {model_size!r} with max_seq_len={max_seq_len} and vocab_size="
            f"{vocab_size} has {params:,} parameters; training them takes "
            f"{needed / _GB:.1f} GB, over the {available / _GB:.1f} GB {where}",
        )

"""Learning-rate schedule: linear warmup, then cosine decay to a floor, then flat."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

MIN_LR_RATIO = 0.1


def lr_at(
    step: int,
    *,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_ratio: float = MIN_LR_RATIO,
) -> float:
    """The learning rate of optimizer step ``step`` (0-based).

    Steps ``0 .. warmup_steps - 1`` rise linearly from ``base_lr / warmup_steps`` to
    ``base_lr``; from ``warmup_steps`` to ``total_steps`` a half cosine falls to
    ``min_ratio * base_lr``, which holds after ``total_steps``.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    floor = min_ratio * base_lr
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: Optimizer, *, warmup_steps: int, total_steps: int, min_ratio: float = MIN_LR_RATIO
) -> LambdaLR:
    """A ``LambdaLR`` that scales each group's learning rate by ``lr_at`` with ``base_lr=1``."""

    def factor(step: int) -> float:
        return lr_at(
            step,
            base_lr=1.0,
            warmup_steps=warmup_steps,
            total_steps=total_steps,
            min_ratio=min_ratio,
        )

    return LambdaLR(optimizer, factor)

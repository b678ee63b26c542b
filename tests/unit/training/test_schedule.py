"""Learning-rate schedule: linear warmup, cosine decay to a floor, flat after."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from model_trainer.core.training.schedule import build_scheduler, lr_at


def lr(step: int, warmup: int = 10, total: int = 110) -> float:
    return lr_at(step, base_lr=2.0, warmup_steps=warmup, total_steps=total)


def test_warmup_rises_linearly_from_base_over_warmup() -> None:
    assert lr(0) == pytest.approx(0.2)
    assert lr(4) == pytest.approx(1.0)
    assert lr(9) == pytest.approx(2.0)


def test_decay_is_a_half_cosine_to_the_floor() -> None:
    assert lr(10) == pytest.approx(2.0)
    assert lr(60) == pytest.approx(0.2 + 1.8 * 0.5)
    assert lr(110) == pytest.approx(0.2)
    decay = [lr(step) for step in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(decay))


def test_flat_after_the_end() -> None:
    assert lr(111) == pytest.approx(0.2)
    assert lr(10_000) == pytest.approx(0.2)


def test_no_warmup_starts_at_base() -> None:
    assert lr(0, warmup=0) == pytest.approx(2.0)


def test_total_not_beyond_warmup_still_reaches_the_floor() -> None:
    assert lr(9, warmup=10, total=5) == pytest.approx(2.0)
    assert lr(10, warmup=10, total=5) == pytest.approx(2.0)
    assert lr(11, warmup=10, total=5) == pytest.approx(0.2)


def test_min_ratio() -> None:
    assert lr_at(50, base_lr=1.0, warmup_steps=0, total_steps=50, min_ratio=0.0) == 0.0
    mid = lr_at(25, base_lr=1.0, warmup_steps=0, total_steps=50, min_ratio=0.5)
    assert mid == pytest.approx(0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi / 2)))


def test_scheduler_follows_lr_at_per_optimizer_step() -> None:
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    scheduler = build_scheduler(optimizer, warmup_steps=3, total_steps=12)
    seen = []
    for _ in range(15):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [lr_at(s, base_lr=0.5, warmup_steps=3, total_steps=12) for s in range(15)]
    assert seen == pytest.approx(expected)

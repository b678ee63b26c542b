"""Sums, votes, meetings and shared text: alone, and in a real Gloo group of one process."""

from __future__ import annotations

from pathlib import Path

import torch.distributed as dist

from model_trainer.core.training.distributed import (
    SOLO,
    SOLO_WORLD,
    Collective,
    control_group,
    current_collective,
    destroy_group,
    init_group,
)


def test_alone_every_value_is_this_process_s() -> None:
    assert current_collective() is SOLO
    assert (SOLO.rank, SOLO.world_size, SOLO.active, SOLO.group) == (0, 1, False, None)
    values = [1.5, 2.0]
    assert SOLO.sum(values) == values
    assert SOLO.sum(values) is not values
    assert SOLO.any(True)
    assert not SOLO.any(False)
    SOLO.meet_once()
    assert SOLO.share_text("run-1") == "run-1"


def test_a_group_of_one(one_rank_group: Collective) -> None:
    assert dist.is_initialized()
    assert current_collective() is one_rank_group
    assert one_rank_group.active
    assert (one_rank_group.rank, one_rank_group.world_size) == (0, 1)
    assert one_rank_group.group is None
    assert one_rank_group.sum([0.1, 3.0]) == [0.1, 3.0]
    assert one_rank_group.any(True)
    assert not one_rank_group.any(False)
    one_rank_group.meet_once()
    one_rank_group.meet_once()
    assert one_rank_group.share_text("gpt2-tiny-é") == "gpt2-tiny-é"
    assert one_rank_group.share_text("") == ""


def test_after_the_group_training_is_alone_again(tmp_path: Path) -> None:
    collective = init_group(
        SOLO_WORLD, device="cpu", timeout_s=30.0, init_method=f"file://{tmp_path / 's'}"
    )
    assert current_collective() is collective
    destroy_group()
    assert current_collective() is SOLO
    assert not dist.is_initialized()


def test_beside_nccl_the_small_collectives_get_a_gloo_group(one_rank_group: Collective) -> None:
    assert control_group("gloo") is None
    group = control_group("nccl")
    assert isinstance(group, dist.ProcessGroup)
    assert dist.get_backend(group) == "gloo"
    beside = Collective(rank=0, world_size=1, active=True, group=group)
    assert beside.sum([2.0]) == [2.0]
    assert beside.any(True)
    beside.meet_once()
    assert beside.share_text("run") == "run"

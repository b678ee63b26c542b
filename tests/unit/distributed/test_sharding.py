"""Each rank's share of the data: slices of the same global batches, shares of validation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.dataset import TokenWindows, epoch_steps, rank_part, shard


def test_epoch_steps_keeps_a_last_batch_only_when_every_rank_gets_a_window() -> None:
    assert epoch_steps(10, 4) == 3
    assert epoch_steps(8, 4) == 2
    assert epoch_steps(17, 4, 2) == 2
    assert epoch_steps(18, 4, 2) == 3
    assert epoch_steps(1, 4, 2) == 0


@given(windows=st.integers(1, 200), batch_size=st.integers(1, 9), world_size=st.integers(1, 5))
def test_one_rank_counts_as_before(windows: int, batch_size: int, world_size: int) -> None:
    assert epoch_steps(windows, batch_size) == -(-windows // batch_size)
    steps = epoch_steps(windows, batch_size, world_size)
    assert steps * batch_size * world_size >= windows - batch_size * world_size
    assert steps * world_size <= windows


def test_shard_is_the_rank_th_slice() -> None:
    rows = torch.arange(8)
    assert [shard(rows, rank, 2).tolist() for rank in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [shard(torch.arange(5), rank, 2).tolist() for rank in range(2)] == [[0, 1, 2], [3, 4]]
    assert torch.equal(shard(rows, 0, 1), rows)


def test_ranks_split_the_same_global_batches() -> None:
    ids = torch.arange(1001)
    whole = TokenWindows(ids, seq_len=10, batch_size=8, seed=4)
    ranks = [
        TokenWindows(ids, seq_len=10, batch_size=4, seed=4, rank=rank, world_size=2)
        for rank in range(2)
    ]
    assert [r.steps_per_epoch for r in ranks] == [whole.steps_per_epoch] * 2 == [13, 13]
    for epoch in (0, 1):
        pairs = zip(*(r.batches(epoch) for r in ranks), strict=True)
        for ((first, _), (second, _)), (inputs, _) in zip(pairs, whole.batches(epoch), strict=True):
            assert torch.equal(torch.cat([first, second]), inputs)
    last = [inputs.shape[0] for r in ranks for inputs, _ in r.batches(0, 12)]
    assert last == [2, 2]


def test_too_few_windows_for_the_ranks() -> None:
    with pytest.raises(ModelTrainerError) as caught:
        TokenWindows(torch.arange(25), seq_len=10, batch_size=4, seed=0, world_size=3, name="x")
    assert caught.value.code == "CORPUS_EMPTY"
    assert "x has 2 windows" in caught.value.message
    assert "world_size=3" in caught.value.message


@given(windows=st.integers(1, 60), extra=st.integers(0, 9), world_size=st.integers(1, 6))
def test_rank_parts_hold_every_window_once(windows: int, extra: int, world_size: int) -> None:
    seq_len = 10
    ids = torch.arange(windows * seq_len + 1 + extra)
    parts = [rank_part(ids, seq_len, rank, world_size) for rank in range(world_size)]
    sizes = [(part.numel() - 1) // seq_len for part in parts]
    assert sum(sizes) == windows
    assert max(sizes) - min(sizes) <= 1
    assert torch.equal(torch.cat([part[:-1] for part in parts]), ids[: windows * seq_len])
    assert all(part.numel() % seq_len == 1 for part in parts)
    assert torch.equal(rank_part(ids, seq_len, 0, 1), ids[: windows * seq_len + 1])

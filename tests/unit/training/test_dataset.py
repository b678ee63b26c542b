"""Token windows: one encode, windows at stride seq_len, seeded order, batches by indexing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from model_trainer.core.contracts.tokenizer import Encoder
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.dataset import TokenWindows, encode_corpus, encode_data


class CountingEncoder:
    """Encodes characters by code point and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, text: str) -> list[int]:
        self.calls += 1
        return [ord(char) for char in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)


def test_encode_corpus_is_one_contiguous_int64_tensor() -> None:
    encoder = CountingEncoder()
    ids = encode_corpus("hello world", encoder)
    assert ids.dtype == torch.long
    assert ids.dim() == 1
    assert ids.is_contiguous()
    assert ids.tolist() == [ord(c) for c in "hello world"]
    assert encoder.calls == 1


def test_encode_data_encodes_each_split_once() -> None:
    encoder = CountingEncoder()
    data = encode_data("abc", "de", encoder)
    assert data["train_ids"].tolist() == [97, 98, 99]
    assert data["val_ids"] is not None
    assert data["val_ids"].tolist() == [100, 101]
    assert encode_data("abc", "", encoder)["val_ids"] is None
    assert encoder.calls == 3


def test_windows_of_a_uint16_token_file_are_int64(tmp_path: Path) -> None:
    path = tmp_path / "ids.bin"
    np.arange(41, dtype=np.uint16).tofile(path)
    ids = torch.from_numpy(np.memmap(path, dtype=np.uint16, mode="c"))
    windows = TokenWindows(ids, seq_len=4, batch_size=3, seed=0, shuffle=False)
    inputs, targets = next(windows.batches(0))
    assert inputs.dtype == targets.dtype == torch.int64
    assert inputs.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert targets[0].tolist() == [1, 2, 3, 4]


def test_encoder_protocol_is_met() -> None:
    encoder: Encoder = CountingEncoder()
    assert encoder.decode(encoder.encode("abc")) == "abc"


def test_counts_and_last_batch_size() -> None:
    windows = TokenWindows(torch.arange(101), seq_len=10, batch_size=4, seed=0)
    assert windows.num_windows == 10
    assert windows.steps_per_epoch == 3
    sizes = [inputs.shape[0] for inputs, _ in windows.batches(0)]
    assert sizes == [4, 4, 2]


def test_targets_are_inputs_shifted_by_one() -> None:
    windows = TokenWindows(torch.arange(1000) * 3, seq_len=8, batch_size=5, seed=1)
    for inputs, targets in windows.batches(0):
        assert inputs.shape == targets.shape
        assert inputs.shape[1] == 8
        assert inputs.is_contiguous()
        assert targets.is_contiguous()
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
        assert torch.equal(targets - inputs, torch.full_like(inputs, 3))


def test_unshuffled_order_walks_the_text() -> None:
    windows = TokenWindows(torch.arange(33), seq_len=8, batch_size=2, seed=0, shuffle=False)
    batches = list(windows.batches(0))
    assert batches[0][0].tolist() == [list(range(0, 8)), list(range(8, 16))]
    assert batches[1][1].tolist() == [list(range(17, 25)), list(range(25, 33))]


@given(
    length=st.integers(min_value=2, max_value=400),
    seq_len=st.integers(min_value=1, max_value=40),
    batch_size=st.integers(min_value=1, max_value=9),
    epoch=st.integers(min_value=0, max_value=3),
)
def test_each_epoch_visits_every_window_once(
    length: int, seq_len: int, batch_size: int, epoch: int
) -> None:
    assume(length >= seq_len + 1)
    windows = TokenWindows(torch.arange(length), seq_len=seq_len, batch_size=batch_size, seed=7)
    starts = [int(row[0]) for inputs, _ in windows.batches(epoch) for row in inputs]
    assert sorted(starts) == [i * seq_len for i in range(windows.num_windows)]
    assert windows.num_windows == (length - 1) // seq_len
    last_end = max(starts) + seq_len + 1
    assert last_end <= length < last_end + seq_len


def test_order_is_seeded_per_epoch() -> None:
    ids = torch.arange(2001)
    first = TokenWindows(ids, seq_len=10, batch_size=8, seed=3)
    again = TokenWindows(ids, seq_len=10, batch_size=8, seed=3)
    other_seed = TokenWindows(ids, seq_len=10, batch_size=8, seed=4)
    assert torch.equal(first.order(0), again.order(0))
    assert not torch.equal(first.order(0), first.order(1))
    assert not torch.equal(first.order(0), other_seed.order(0))


def test_start_and_stop_steps_cut_the_same_sequence() -> None:
    windows = TokenWindows(torch.arange(500), seq_len=7, batch_size=3, seed=2)
    full = [inputs for inputs, _ in windows.batches(5)]
    tail = [inputs for inputs, _ in windows.batches(5, start_step=4)]
    head = [inputs for inputs, _ in windows.batches(5, 0, 3)]
    assert len(tail) == len(full) - 4
    assert all(torch.equal(a, b) for a, b in zip(tail, full[4:], strict=True))
    assert len(head) == 3
    assert all(torch.equal(a, b) for a, b in zip(head, full[:3], strict=True))
    assert len(list(windows.batches(5, 0, 10_000))) == windows.steps_per_epoch


def test_exactly_one_window() -> None:
    windows = TokenWindows(torch.arange(9), seq_len=8, batch_size=4, seed=0)
    ((inputs, targets),) = list(windows.batches(0))
    assert inputs.tolist() == [list(range(8))]
    assert targets.tolist() == [list(range(1, 9))]


def test_too_short_names_token_count_and_seq_len() -> None:
    with pytest.raises(ModelTrainerError) as caught:
        TokenWindows(torch.arange(8), seq_len=8, batch_size=4, seed=0, name="the validation split")
    assert caught.value.code == "CORPUS_EMPTY"
    assert "the validation split has 8 tokens" in caught.value.message
    assert "max_seq_len=8" in caught.value.message

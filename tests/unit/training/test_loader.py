"""The spec's ``train_loader``: a PyTorch ``DataLoader`` trains through the loop's own step.

``BaseTrainer`` is read from ``model_trainer.family``, where a custom family finds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import EpochMetrics, ModelTrainConfig, TrainingCallbacks
from model_trainer.core.contracts.tokenizer import Encoder
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import TrainPosition, start_position
from model_trainer.core.training.dataset import TokenWindows, encode_corpus
from model_trainer.core.training.loader import LoaderBatches, TrainLoader
from model_trainer.core.training.loss import cross_entropy
from model_trainer.core.training.optimizer import make_optimizer
from model_trainer.core.training.schedule import build_scheduler
from model_trainer.family import BaseTrainer


class MakeModel(Protocol):
    """Builds a seeded tiny model (the ``make_model`` fixture)."""

    def __call__(self, *, seed: int = 0) -> nn.Module: ...


STEPS = 6
CFG: ModelTrainConfig = train_config(precision="fp32", max_steps_per_epoch=STEPS)


class Batches(TrainLoader):
    """A list of batches that says it holds ``length`` of them."""

    def __init__(self, batches: list[tuple[Tensor, Tensor]], length: int) -> None:
        self.items = batches
        self.length = length

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return iter(self.items)

    def __len__(self) -> int:
        return self.length


def _train(
    model: nn.Module,
    *,
    train: TokenWindows | None = None,
    loader: TrainLoader | None = None,
    start: TrainPosition | None = None,
    progress: list[tuple[int, int, float]] | None = None,
) -> list[EpochMetrics]:
    optimizer = make_optimizer(model.parameters(), lr=1e-2, weight_decay=0.0, device="cpu")
    heard = [] if progress is None else progress
    callbacks: TrainingCallbacks = {
        "heartbeat": lambda now: None,
        "cancelled": lambda: False,
        "progress": lambda step, epoch, loss: heard.append((step, epoch, loss)),
    }
    return list(
        BaseTrainer().train_epochs(
            model=model,
            optimizer=optimizer,
            scheduler=build_scheduler(optimizer, warmup_steps=2, total_steps=2 * STEPS),
            train=train,
            train_loader=loader,
            num_epochs=2,
            device="cpu",
            callbacks=callbacks,
            cfg=CFG,
            options={"progress_interval_s": 1e9},
            start=start,
        )
    )


@pytest.fixture
def windows(text: str, codec: Encoder) -> TokenWindows:
    return TokenWindows(
        encode_corpus(text[:4000], codec), seq_len=16, batch_size=8, seed=0, shuffle=False
    )


@pytest.fixture
def loader(windows: TokenWindows) -> DataLoader[tuple[Tensor, ...]]:
    """The very batches ``windows`` yields, through a ``DataLoader`` of their rows."""
    inputs, targets = zip(*windows.batches(0, 0, STEPS), strict=True)
    return DataLoader(TensorDataset(torch.cat(inputs), torch.cat(targets)), batch_size=8)


def test_a_data_loader_trains_as_the_same_windows_do(
    make_model: MakeModel, windows: TokenWindows, loader: DataLoader[tuple[Tensor, ...]]
) -> None:
    progress: list[tuple[int, int, float]] = []
    from_loader = _train(make_model(seed=3), loader=loader, progress=progress)
    from_windows = _train(make_model(seed=3), train=windows)
    assert [m["global_step"] for m in from_loader] == [STEPS, 2 * STEPS]
    assert [m["steps"] for m in from_loader] == [STEPS, STEPS]
    losses = [m["loss"] for m in from_loader]
    assert losses == pytest.approx([m["loss"] for m in from_windows], rel=1e-5)
    assert losses[1] < losses[0]
    assert [(step, epoch) for step, epoch, _ in progress] == [(STEPS, 0), (STEPS, 1)]


def test_the_specs_own_call_trains_on_a_data_loader(
    make_model: MakeModel, loader: DataLoader[tuple[Tensor, ...]]
) -> None:
    model = make_model(seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2)
    steps: list[tuple[int, int]] = []
    callbacks: TrainingCallbacks = {
        "heartbeat": lambda now: None,
        "cancelled": lambda: False,
        "progress": lambda step, epoch, loss: steps.append((step, epoch)),
    }
    history = list(
        BaseTrainer().train_epochs(
            model=model,
            optimizer=optimizer,
            train_loader=loader,
            num_epochs=2,
            device="cpu",
            callbacks=callbacks,
            loss_fn=cross_entropy,
        )
    )
    assert [(m["epoch"], m["steps"], m["global_step"]) for m in history] == [
        (1, STEPS, STEPS),
        (2, STEPS, 2 * STEPS),
    ]
    assert [m["learning_rate"] for m in history] == [2e-2, 2e-2]
    assert history[1]["loss"] < history[0]["loss"]
    assert steps[-1] == (STEPS, 1)


def test_exactly_one_source_of_batches(
    make_model: MakeModel, windows: TokenWindows, loader: DataLoader[tuple[Tensor, ...]]
) -> None:
    with pytest.raises(ModelTrainerError) as both:
        _train(make_model(), train=windows, loader=loader)
    with pytest.raises(ModelTrainerError) as neither:
        _train(make_model())
    for error, word in ((both, "both"), (neither, "neither")):
        assert error.value.code == "INVALID_CONFIG"
        assert error.value.message == (
            f"train_epochs takes exactly one of train (TokenWindows) and train_loader, got {word}"
        )


def test_a_loader_resumes_only_at_an_epochs_start(
    make_model: MakeModel, loader: DataLoader[tuple[Tensor, ...]]
) -> None:
    at_epoch: TrainPosition = {**start_position(), "epoch": 1, "global_step": STEPS}
    assert [m["epoch"] for m in _train(make_model(), loader=loader, start=at_epoch)] == [2]
    inside: TrainPosition = {**at_epoch, "step_in_epoch": 2}
    with pytest.raises(ModelTrainerError) as error:
        _train(make_model(), loader=loader, start=inside)
    assert error.value.code == "INVALID_CONFIG"
    assert error.value.message.startswith("train_loader: epoch 2 would resume at batch 2")


def test_a_loader_of_no_batches_or_fewer_than_its_length_is_refused(
    make_model: MakeModel, windows: TokenWindows
) -> None:
    with pytest.raises(ModelTrainerError) as error:
        LoaderBatches(Batches([], 0))
    assert (error.value.code, error.value.message) == (
        "CORPUS_EMPTY",
        "train_loader holds no batches",
    )
    short = Batches(list(windows.batches(0, 0, 2)), STEPS)
    with pytest.raises(ModelTrainerError) as error:
        _train(make_model(), loader=short)
    assert error.value.message == "train_loader: a pass yielded 2 batches, its length says 6"


class OutOfMemory(nn.Module):
    """A model whose every forward runs out of memory."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(1, 1)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        raise RuntimeError("CPU out of memory: tried to allocate 9 GiB")


def test_running_out_of_memory_names_the_loaders_batches(
    loader: DataLoader[tuple[Tensor, ...]],
) -> None:
    with pytest.raises(ModelTrainerError) as error:
        _train(OutOfMemory(), loader=loader)
    assert error.value.code == "TRAINING_OOM"
    assert error.value.message.startswith("cpu ran out of memory with the batches of train_loader")

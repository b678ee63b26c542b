"""What the loop trains on: the kit's own windows, or the spec's ``train_loader``.

The loop reads its batches through ``Batches``: how many an epoch holds, and those of one
epoch from a step on. ``TokenWindows`` is one (a seeded order per epoch, so a run resumes
at the exact batch it stopped at); ``LoaderBatches`` makes one of any iterable of
``(inputs, targets)`` batches with a length, a PyTorch ``DataLoader`` included, read afresh
each epoch. A loader's order is its own, so a run on one resumes only at an epoch's start.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Protocol

from torch import Tensor

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.dataset import TokenWindows


class Batches(Protocol):
    """An epoch's ``(inputs, targets)`` batches, each ``(B, T)``, from a step on."""

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one epoch."""
        ...

    @property
    def sizes(self) -> str:
        """What sets a batch's memory, for an out-of-memory error (``batch_size=...``)."""
        ...

    def batches(
        self, epoch: int, start_step: int = 0, stop_step: int | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches of epoch ``epoch`` from ``start_step`` to ``stop_step``."""
        ...


class TrainLoader(Protocol):
    """The spec's ``train_loader``: ``(inputs, targets)`` batches, as many as its length."""

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """One pass over the batches."""
        ...

    def __len__(self) -> int:
        """How many batches a pass yields."""
        ...


class LoaderBatches:
    """``Batches`` of a ``TrainLoader``: one pass of it an epoch."""

    def __init__(self, loader: TrainLoader) -> None:
        """Read ``loader``'s passes as epochs.

        Raises:
            ModelTrainerError: ``CORPUS_EMPTY`` for a loader of no batches.
        """
        self.loader = loader
        self.steps_per_epoch = len(loader)
        if self.steps_per_epoch < 1:
            raise ModelTrainerError("CORPUS_EMPTY", "train_loader holds no batches")

    @property
    def sizes(self) -> str:
        """The loader's batches set the memory a step takes."""
        return "the batches of train_loader"

    def batches(
        self, epoch: int, start_step: int = 0, stop_step: int | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """The first ``stop_step`` batches of a fresh pass; a pass starts at step 0 only.

        Raises:
            ModelTrainerError: ``INVALID_CONFIG`` for a start inside an epoch (a loader's
                order is its own: there is no batch to pick up from), or a pass that ends
                before the length the loader gave.
        """
        if start_step != 0:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"train_loader: epoch {epoch + 1} would resume at batch {start_step}, but a "
                "loader's batches are read from the start of a pass; resume at an epoch's "
                "start, or train on TokenWindows",
            )
        stop = self.steps_per_epoch if stop_step is None else stop_step
        count = 0
        for batch in itertools.islice(self.loader, stop):
            count += 1
            yield batch
        if count < stop:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"train_loader: a pass yielded {count} batches, its length says "
                f"{self.steps_per_epoch}",
            )


def batches_of(train: TokenWindows | None, train_loader: TrainLoader | None) -> Batches:
    """What the loop trains on: exactly one of the kit's windows and a loader.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for both or neither; ``LoaderBatches``'s errors.
    """
    if train is not None and train_loader is None:
        return train
    if train is None and train_loader is not None:
        return LoaderBatches(train_loader)
    raise ModelTrainerError(
        "INVALID_CONFIG",
        "train_epochs takes exactly one of train (TokenWindows) and train_loader, got "
        f"{'both' if train is not None else 'neither'}",
    )

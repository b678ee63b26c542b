"""Token windows for causal language modelling: one id tensor, batches cut by indexing.

The corpus is encoded once into a 1-D tensor (a run's is a memory-mapped token file of
``uint16`` or ``uint32`` ids, see ``core/data``); each batch is gathered from it as
``int64``, so only the windows of a batch are ever read into memory. A window is
``seq_len + 1`` consecutive ids starting at a multiple of ``seq_len``; its first ``seq_len``
ids are the inputs and its last ``seq_len`` the targets. A batch is one gather of
``starts[:, None] + arange(seq_len + 1)``.

On several ranks (``world_size`` > 1) every rank draws the same seeded order; a step takes
the next ``batch_size * world_size`` windows (the global batch) and rank ``r`` trains on the
``r``-th of ``world_size`` equal slices of them. For evaluation, ``rank_part`` gives each
rank a contiguous share of the windows instead, so every window is scored exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import torch
from torch import Tensor

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, TrainData
from model_trainer.core.contracts.tokenizer import Encoder, TokenizerHandle
from model_trainer.core.data.prepare import load_run_data
from model_trainer.core.errors import ModelTrainerError

# Mixes the seed and the epoch into one generator seed, so every epoch has its own order.
EPOCH_SEED_FACTOR = 1_000_003


def window_count(num_ids: int, seq_len: int) -> int:
    """Windows of ``seq_len + 1`` ids at stride ``seq_len`` in ``num_ids`` ids."""
    return max(num_ids - 1, 0) // seq_len


def epoch_steps(num_windows: int, batch_size: int, world_size: int = 1) -> int:
    """Steps in an epoch of ``num_windows`` windows, ``batch_size`` of them per rank a step.

    The last, smaller global batch is kept when it still gives every rank a window.
    """
    full, rest = divmod(num_windows, batch_size * world_size)
    return full + (rest >= world_size)


def epoch_length(steps_per_epoch: int, max_steps_per_epoch: int) -> int:
    """Batches per epoch: all of them, or at most ``max_steps_per_epoch`` when it is > 0."""
    if max_steps_per_epoch > 0:
        return min(steps_per_epoch, max_steps_per_epoch)
    return steps_per_epoch


class TrainPlan(TypedDict):
    """How many batches and optimizer updates a run's epochs take."""

    batches_per_epoch: int
    updates_per_epoch: int
    total_updates: int


def plan_training(num_ids: int, cfg: ModelTrainConfig, world_size: int = 1) -> TrainPlan:
    """The plan of training ``cfg`` on ``num_ids`` training ids with ``world_size`` ranks.

    The one place where batches, updates per epoch and the schedule's length are worked out:
    an update closes every ``grad_accum_steps`` batches and at the end of each epoch.
    """
    windows = window_count(num_ids, cfg["max_seq_len"])
    batches = epoch_length(
        epoch_steps(windows, cfg["batch_size"], world_size), cfg["max_steps_per_epoch"]
    )
    updates = -(-batches // cfg["grad_accum_steps"])
    return {
        "batches_per_epoch": batches,
        "updates_per_epoch": updates,
        "total_updates": updates * cfg["num_epochs"],
    }


def shard(rows: Tensor, rank: int, world_size: int) -> Tensor:
    """Rank ``rank``'s slice of a global batch ``rows`` ``(G, ...)``.

    The slices are ``world_size`` contiguous near-equal parts, equal when ``world_size``
    divides ``G``.
    """
    return rows.tensor_split(world_size)[rank]


def rank_part(ids: Tensor, seq_len: int, rank: int, world_size: int) -> Tensor:
    """The ids of rank ``rank``'s contiguous share of the windows of ``ids`` ``(N,)``.

    The shares of the ``world_size`` ranks are near-equal and together hold every window
    once: each rank evaluates its share and the sums over the ranks cover the whole split.
    """
    base, extra = divmod((ids.numel() - 1) // seq_len, world_size)
    first = rank * base + min(rank, extra)
    count = base + (rank < extra)
    return ids[first * seq_len : (first + count) * seq_len + 1]  # (count * T + 1,)


def encode_corpus(text: str, encoder: Encoder) -> Tensor:
    """Encode ``text`` once into one contiguous 1-D ``int64`` tensor of ids."""
    return torch.tensor(encoder.encode(text), dtype=torch.long)


def encode_data(train_text: str, val_text: str, encoder: Encoder) -> TrainData:
    """A run's two splits, each encoded once; no validation ids for an empty ``val_text``."""
    return {
        "train_ids": encode_corpus(train_text, encoder),
        "val_ids": encode_corpus(val_text, encoder) if val_text else None,
    }


def load_data(cfg: ModelTrainConfig, settings: Settings, tokenizer: TokenizerHandle) -> TrainData:
    """``cfg``'s corpus split and encoded with ``tokenizer``: from the token cache, built once.

    Raises:
        ModelTrainerError: the corpus errors of ``core/data`` (missing, empty, too large, a
            bad field or byte).
    """
    return load_run_data(cfg, settings, tokenizer)["data"]


class TokenWindows:
    """Fixed-length training windows over one id tensor, in a seeded order per epoch."""

    def __init__(
        self,
        ids: Tensor,
        *,
        seq_len: int,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        name: str = "corpus",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        """Cut ``ids`` into windows of ``seq_len + 1`` ids at stride ``seq_len``.

        ``batch_size`` is per rank; this object yields rank ``rank``'s part of each step.

        Raises:
            ModelTrainerError: ``CORPUS_EMPTY`` when ``ids`` is too short for one window, or
                for one window per rank.
        """
        count = ids.numel()
        if count < seq_len + 1:
            raise ModelTrainerError(
                "CORPUS_EMPTY",
                f"{name} has {count} tokens, too few for one window of max_seq_len={seq_len} "
                f"(needs {seq_len + 1}); use a longer corpus or a smaller max_seq_len",
            )
        self.ids = ids.reshape(-1)  # (N,)
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.num_windows = window_count(count, seq_len)
        self.steps_per_epoch = epoch_steps(self.num_windows, batch_size, world_size)
        if self.steps_per_epoch == 0:
            raise ModelTrainerError(
                "CORPUS_EMPTY",
                f"{name} has {self.num_windows} windows of max_seq_len={seq_len}, fewer than "
                f"the world_size={world_size} ranks; use a longer corpus or fewer processes",
            )
        self._offsets = torch.arange(seq_len + 1)  # (T + 1,)

    @property
    def sizes(self) -> str:
        """What sets a batch's memory, for an out-of-memory error."""
        return f"batch_size={self.batch_size} and max_seq_len={self.seq_len}"

    def order(self, epoch: int) -> Tensor:
        """Window indices in the order epoch ``epoch`` visits them."""
        if not self.shuffle:
            return torch.arange(self.num_windows)
        generator = torch.Generator().manual_seed(self.seed * EPOCH_SEED_FACTOR + epoch)
        return torch.randperm(self.num_windows, generator=generator)

    def batches(
        self, epoch: int, start_step: int = 0, stop_step: int | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(inputs, targets)``, each ``(B, T)``, for steps ``start_step..stop_step``.

        The last batch of an epoch may hold fewer than ``batch_size`` rows.
        """
        order = self.order(epoch)
        stop = self.steps_per_epoch if stop_step is None else min(stop_step, self.steps_per_epoch)
        size = self.batch_size * self.world_size
        for step in range(start_step, stop):
            chosen = order[step * size : (step + 1) * size]  # (G,)
            rows = self.rows(shard(chosen, self.rank, self.world_size))  # (B, T + 1)
            yield rows[:, :-1].contiguous(), rows[:, 1:].contiguous()

    def rows(self, windows: Tensor) -> Tensor:
        """The ids of ``windows`` (window indices ``(B,)``) as ``int64`` rows ``(B, T + 1)``."""
        return self.ids[windows[:, None] * self.seq_len + self._offsets].long()

"""One epoch's running tally: batch losses kept on the device until read, tokens, clock."""

from __future__ import annotations

import time

import torch
from torch import Tensor

from model_trainer.core.training.checkpoint import TrainPosition
from model_trainer.core.training.distributed import Collective


class EpochTally:
    """One epoch's per-batch losses, on the device until read, and its clock."""

    def __init__(self, *, epoch: int, steps: int, position: TrainPosition, device: str) -> None:
        self.epoch = epoch
        self.losses = torch.zeros(steps, device=device)  # (S,)
        self.tokens: list[int] = []
        self.first = position["step_in_epoch"]
        self.read_from = self.first
        self.loss_sum = position["loss_sum"]
        self.token_sum = position["tokens"]
        self.started = time.perf_counter() - position["elapsed_s"]
        self.last_read = time.perf_counter()

    def add(self, index: int, loss: Tensor, tokens: int) -> None:
        """Keep batch ``index``'s loss (on the device, no read-back) and its tokens."""
        self.losses[index] = loss.detach()
        self.tokens.append(tokens)

    def window(self, until: int) -> tuple[float, int] | None:
        """Mean batch loss and tokens since the last reading (one read-back), or None."""
        self.last_read = time.perf_counter()
        if until == self.read_from:
            return None
        mean = self.losses[self.read_from : until].mean().item()
        tokens = sum(self.tokens[self.read_from - self.first : until - self.first])
        self.read_from = until
        return mean, tokens

    def totals(self, until: int, collective: Collective) -> tuple[float, int]:
        """Loss (nats) and tokens of the epoch's batches before ``until``, over every rank.

        Each rank sums its batches in order; the part done before a resume (already a sum
        over the ranks) is counted by rank 0 alone.
        """
        done = self.tokens[: until - self.first]
        carried = collective.rank == 0
        total = self.loss_sum if carried else 0.0
        for loss, count in zip(self.losses[self.first : until].tolist(), done, strict=True):
            total += loss * count
        tokens = (self.token_sum if carried else 0) + sum(done)
        total, summed = collective.sum([total, float(tokens)])
        return total, int(summed)

    def elapsed(self) -> float:
        """Seconds of training in this epoch so far, resumed part included."""
        return time.perf_counter() - self.started

    def pause(self, since: float) -> None:
        """Leave the time since ``since`` (evaluation, checkpoint) out of the training time."""
        self.started += time.perf_counter() - since

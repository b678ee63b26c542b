"""One update of the loop: each batch's forward and backward, then clip, step and schedule.

``backward`` runs a batch's forward under the run's autocast and its backward, the loss
divided over the update's batches; ``update`` clips the gradients, steps the optimizer (and
the schedule) and clears the gradients. The loop and ``lr_find`` take the same two, so the
rate a search suggests is measured on the step the run takes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import Parameter
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from model_trainer.core.training.device import ResolvedPrecision, autocast
from model_trainer.core.training.distributed import Forward
from model_trainer.core.training.loss import LossFn


def backward(
    forward: Forward,
    loss_fn: LossFn,
    inputs: Tensor,  # (B, T)
    targets: Tensor,  # (B, T)
    *,
    device: str,
    precision: ResolvedPrecision,
    group: int,
) -> Tensor:
    """The batch's loss (on the device); its gradients, divided by ``group``, accumulated."""
    with autocast(device, precision):
        loss = loss_fn(forward(inputs), targets)  # (B, T, V) -> ()
    torch.autograd.backward(loss if group == 1 else loss / group)
    return loss


def update(
    params: Sequence[Parameter],
    optimizer: Optimizer,
    scheduler: LRScheduler | None,
    grad_clip: float,
) -> None:
    """Clip the gradients to ``grad_clip`` (0: no clipping), step, schedule, clear them."""
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)

"""The training loss and what is read from it: its unit and its sanity checks.

The loss is cross-entropy in nats per token (per character for a char tokenizer, whose
tokens are characters). Divergence: a reading more than ``DIVERGENCE_NATS`` above the lowest
reading so far raises ``TRAINING_DIVERGED``. Ten nats is a factor of about 22,000 in
perplexity, far beyond the noise between two readings of a healthy run, and a run that
climbs that far does not come back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor
from torch.nn import Parameter, functional

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError

DIVERGENCE_NATS = 10.0

LossFn = Callable[[Tensor, Tensor], Tensor]
"""``loss_fn(logits (B, T, V), targets (B, T))``: the mean loss of a batch, a 0-d tensor."""
OomCode = Literal["TRAINING_OOM", "CUDA_OOM"]


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats) of ``logits`` ``(B, T, V)`` for ``targets`` ``(B, T)``."""
    return functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def loss_unit_of(tokenizer: TokenizerHandle) -> LossUnit:
    """``char`` for a char tokenizer (one token a character), else ``token``."""
    return "char" if tokenizer.kind == "char" else "token"


def check_loss(loss: float, best: float | None, *, step: int) -> None:
    """Raise when a training-loss reading is not finite or has diverged from ``best``."""
    if not math.isfinite(loss):
        raise ModelTrainerError(
            "TRAINING_NAN_LOSS",
            f"training loss became {loss} by step {step}; lower learning_rate or set grad_clip",
        )
    if best is not None and loss > best + DIVERGENCE_NATS:
        raise ModelTrainerError(
            "TRAINING_DIVERGED",
            f"training loss {loss:.3f} at step {step} is over {DIVERGENCE_NATS} nats above "
            f"its best {best:.3f}; lower learning_rate",
        )


def require_finite(params: list[Parameter], step: int) -> None:
    """Raise ``TRAINING_NAN_LOSS`` unless every parameter is finite (one read-back for all)."""
    if not bool(torch.stack([p.detach().isfinite().all() for p in params]).all().item()):
        raise ModelTrainerError(
            "TRAINING_NAN_LOSS",
            f"weights became NaN or infinite by step {step}; lower learning_rate or set grad_clip",
        )


def oom_code(exc: BaseException, device: str) -> OomCode | None:
    """The error code of an out-of-memory failure on ``device``, or None for other errors."""
    if "out of memory" not in str(exc).lower():
        return None
    return "CUDA_OOM" if device.startswith("cuda") else "TRAINING_OOM"

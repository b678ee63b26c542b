"""A loss in nats per token or per character, read as perplexity or bits per character."""

from __future__ import annotations

import math

from model_trainer.core.contracts.model import LossUnit

# exp() of more overflows a float; such a loss has long been reported as diverged.
MAX_EXP_LOSS = 700.0


def perplexity(loss: float) -> float:
    """``exp(loss)``, capped where it would overflow."""
    return math.exp(min(loss, MAX_EXP_LOSS))


def bits_per_char(loss: float, loss_unit: LossUnit, chars_per_token: float) -> float:
    """A loss in nats per ``loss_unit`` as bits per character."""
    per_char = loss if loss_unit == "char" else loss / chars_per_token
    return per_char / math.log(2.0)

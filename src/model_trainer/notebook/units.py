"""Loss units: nats and bits, per token and per character, and perplexity.

A loss arrives in nats per ``loss_unit`` (a token, or a character for a char model). Bits
per character divide it by ``ln 2`` and by the characters a token covers on average
(``chars_per_token``, 1 for a char model), so models with different tokenizers compare on
the very same characters.
"""

from __future__ import annotations

import math
from typing import Final, Literal, TypedDict, get_args

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.errors import ModelTrainerError

DisplayUnit = Literal["nats_per_token", "bits_per_char"]
DISPLAY_UNITS: Final[tuple[DisplayUnit, ...]] = get_args(DisplayUnit)
LN2: Final = math.log(2.0)
# exp() overflows a float above this; a perplexity beyond it is infinite.
_MAX_EXP_ARG: Final = math.log(1.7976931348623157e308)

_LABELS: Final[dict[DisplayUnit, str]] = {
    "nats_per_token": "nats/token",
    "bits_per_char": "bits/char",
}


def nats_to_bits(nats: float) -> float:
    """Convert nats to bits."""
    return nats / LN2


def bits_to_nats(bits: float) -> float:
    """Convert bits to nats."""
    return bits * LN2


def per_token_to_per_char(value: float, chars_per_token: float) -> float:
    """Spread a per-token figure over the characters a token covers.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when ``chars_per_token`` is not positive.
    """
    if not chars_per_token > 0.0:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"chars_per_token must be > 0, got {chars_per_token!r}"
        )
    return value / chars_per_token


def bits_per_char(nats_per_token: float, chars_per_token: float) -> float:
    """Bits per character of a loss in nats per token."""
    return nats_to_bits(per_token_to_per_char(nats_per_token, chars_per_token))


def perplexity(nats: float) -> float:
    """``exp(nats)``: the perplexity per unit of a loss in nats; infinite past a float."""
    return math.inf if nats > _MAX_EXP_ARG else math.exp(nats)


def perplexity_from_bits(bits: float) -> float:
    """``2 ** bits``: the perplexity per unit of a loss in bits."""
    return perplexity(bits_to_nats(bits))


def chars_per_loss_unit(loss_unit: LossUnit, chars_per_token: float | None) -> float | None:
    """Characters one loss unit covers: 1 for a char loss, else ``chars_per_token`` if known."""
    return 1.0 if loss_unit == "char" else chars_per_token


def display_scale(
    unit: DisplayUnit, *, loss_unit: LossUnit, chars_per_token: float | None
) -> float | None:
    """The factor that turns nats per ``loss_unit`` into ``unit``.

    None when ``unit`` is bits per character of a token loss whose ``chars_per_token`` is
    not known (yet): that figure cannot be drawn honestly.
    """
    if unit == "nats_per_token":
        return 1.0
    chars = chars_per_loss_unit(loss_unit, chars_per_token)
    if chars is None:
        return None
    return bits_per_char(1.0, chars)


class ShownUnit(TypedDict):
    """The unit a figure is shown in, its factor from nats per loss unit, and a caveat."""

    unit: DisplayUnit
    scale: float
    note: str


def shown_unit(
    unit: DisplayUnit, *, loss_unit: LossUnit, chars_per_token: float | None
) -> ShownUnit:
    """The unit to show: ``unit``, or nats per token with a note saying why not bits/char."""
    scale = display_scale(unit, loss_unit=loss_unit, chars_per_token=chars_per_token)
    if scale is None:
        return {
            "unit": "nats_per_token",
            "scale": 1.0,
            "note": "bits/char needs chars_per_token in the config event",
        }
    return {"unit": unit, "scale": scale, "note": ""}


def display_perplexity(value: float, unit: DisplayUnit) -> float:
    """The perplexity per token (from nats) or per character (from bits) of ``value``."""
    return perplexity(value) if unit == "nats_per_token" else perplexity_from_bits(value)


def unit_label(unit: DisplayUnit) -> str:
    """A short axis label: ``nats/token`` or ``bits/char``."""
    return _LABELS[unit]


def perplexity_label(unit: DisplayUnit) -> str:
    """What the perplexity is per: ``perplexity/token`` or ``perplexity/char``."""
    return "perplexity/token" if unit == "nats_per_token" else "perplexity/char"

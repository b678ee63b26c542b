import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_trainer.core.errors import ModelTrainerError
from model_trainer.notebook.units import (
    DISPLAY_UNITS,
    LN2,
    bits_per_char,
    bits_to_nats,
    chars_per_loss_unit,
    display_perplexity,
    display_scale,
    nats_to_bits,
    per_token_to_per_char,
    perplexity,
    perplexity_from_bits,
    perplexity_label,
    shown_unit,
    unit_label,
)


def test_nats_and_bits_convert_both_ways() -> None:
    assert nats_to_bits(math.log(2.0)) == pytest.approx(1.0)
    assert nats_to_bits(math.log(8.0)) == pytest.approx(3.0)
    assert bits_to_nats(1.0) == pytest.approx(LN2)


def test_per_token_spreads_over_the_characters_of_a_token() -> None:
    assert per_token_to_per_char(4.0, 2.0) == 2.0
    assert per_token_to_per_char(4.0, 1.0) == 4.0


@pytest.mark.parametrize("chars", [0.0, -1.0, math.nan])
def test_chars_per_token_must_be_positive(chars: float) -> None:
    with pytest.raises(ModelTrainerError) as info:
        per_token_to_per_char(1.0, chars)
    assert info.value.code == "INVALID_CONFIG"
    assert "chars_per_token" in info.value.message
    assert repr(chars) in info.value.message


def test_bits_per_char_of_a_token_loss() -> None:
    assert bits_per_char(3.0 * LN2 * 4.0, 4.0) == pytest.approx(3.0)
    assert bits_per_char(LN2, 1.0) == pytest.approx(1.0)


@given(
    nats=st.floats(min_value=0.0, max_value=50.0),
    chars=st.floats(min_value=0.01, max_value=20.0),
)
def test_bits_per_char_round_trips_to_nats_per_token(nats: float, chars: float) -> None:
    assert bits_to_nats(bits_per_char(nats, chars)) * chars == pytest.approx(nats, abs=1e-9)


def test_perplexity_is_exp_and_infinite_past_a_float() -> None:
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(10.0)) == pytest.approx(10.0)
    assert perplexity(709.0) == pytest.approx(math.exp(709.0))
    assert perplexity(1000.0) == math.inf
    assert perplexity_from_bits(3.0) == pytest.approx(8.0)


def test_chars_per_loss_unit() -> None:
    assert chars_per_loss_unit("char", None) == 1.0
    assert chars_per_loss_unit("char", 3.5) == 1.0
    assert chars_per_loss_unit("token", 3.5) == 3.5
    assert chars_per_loss_unit("token", None) is None


def test_display_scale_per_unit() -> None:
    assert display_scale("nats_per_token", loss_unit="token", chars_per_token=None) == 1.0
    assert display_scale("bits_per_char", loss_unit="char", chars_per_token=None) == (
        pytest.approx(1.0 / LN2)
    )
    assert display_scale("bits_per_char", loss_unit="token", chars_per_token=2.0) == (
        pytest.approx(1.0 / (2.0 * LN2))
    )
    assert display_scale("bits_per_char", loss_unit="token", chars_per_token=None) is None


def test_shown_unit_says_why_bits_per_char_cannot_be_drawn() -> None:
    assert shown_unit("bits_per_char", loss_unit="token", chars_per_token=None) == {
        "unit": "nats_per_token",
        "scale": 1.0,
        "note": "bits/char needs chars_per_token in the config event",
    }
    assert shown_unit("bits_per_char", loss_unit="char", chars_per_token=None) == {
        "unit": "bits_per_char",
        "scale": pytest.approx(1.0 / LN2),
        "note": "",
    }


def test_display_perplexity_per_token_and_per_char() -> None:
    assert display_perplexity(math.log(5.0), "nats_per_token") == pytest.approx(5.0)
    assert display_perplexity(3.0, "bits_per_char") == pytest.approx(8.0)


def test_labels() -> None:
    assert DISPLAY_UNITS == ("nats_per_token", "bits_per_char")
    assert [unit_label(unit) for unit in DISPLAY_UNITS] == ["nats/token", "bits/char"]
    assert [perplexity_label(unit) for unit in DISPLAY_UNITS] == [
        "perplexity/token",
        "perplexity/char",
    ]

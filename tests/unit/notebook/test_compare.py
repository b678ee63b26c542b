from __future__ import annotations

import math

import numpy
import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import (
    make_config_event,
    make_epoch_event,
    make_progress_metrics_event,
)
from model_trainer.notebook.compare import (
    ComparisonView,
    RunComparison,
    comparison_figure,
    figure_png,
    run_curve,
    run_label,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LN2 = math.log(2.0)


def _epoch(epoch: int, *, train: float, val: float | None, unit: str = "char") -> Event:
    return make_epoch_event(
        job_id="c1",
        user_id=0,
        epoch=epoch,
        total_epochs=3,
        global_step=2 * epoch,
        elapsed_s=1.0,
        train_loss=train,
        train_perplexity=math.exp(train),
        val_loss=val,
        val_perplexity=None if val is None else math.exp(val),
        tokens_per_second=100.0,
        learning_rate=1e-3,
        loss_unit="char" if unit == "char" else "token",
    )


def _progress(step: int, epoch: int) -> Event:
    return make_progress_metrics_event(
        job_id="c1",
        user_id=0,
        epoch=epoch,
        total_epochs=3,
        step=step,
        steps_per_epoch=2,
        loss=2.0,
        tokens_per_second=100.0,
        learning_rate=1e-3,
        elapsed_s=1.0,
    )


def _char_config() -> Event:
    return make_config_event(
        job_id="c1",
        user_id=0,
        model_family="char_lstm",
        model_size="tiny",
        total_epochs=3,
        chars_per_token=1.0,
        tokenizer_kind="char",
        loss_unit="char",
    )


def test_token_losses_become_bits_per_char(run_events: list[Event]) -> None:
    curve = run_curve("r1", run_events)
    assert curve["run_id"] == "r1"
    assert (curve["model_family"], curve["model_size"]) == ("gpt2", "tiny")
    assert curve["tokenizer_kind"] is None
    assert curve["loss_unit"] == "token"
    assert curve["chars_per_token"] == 2.0
    assert curve["epochs"] == [1, 2]
    assert curve["bits_per_char"] == pytest.approx([3.2 / 2 / LN2, 2.7 / 2 / LN2])
    assert curve["train_bits_per_char"] == pytest.approx([3.0 / 2 / LN2, 2.5 / 2 / LN2])
    assert run_label(curve) == "r1 (gpt2/tiny, 2.00 chars/token)"


def test_a_char_run_is_one_char_per_token_and_a_resumed_run_is_one_curve() -> None:
    events = [
        _char_config(),
        _progress(1, 1),
        _progress(2, 1),
        _epoch(1, train=3.0, val=2.8),
        _progress(3, 2),
        # the process died here; the resumed run starts again from its epoch-1 checkpoint
        _char_config(),
        _progress(3, 2),
        _progress(4, 2),
        _epoch(2, train=2.0, val=2.2),
    ]
    curve = run_curve("c1", events)
    assert curve["chars_per_token"] == 1.0
    assert curve["tokenizer_kind"] == "char"
    assert curve["epochs"] == [1, 2]
    assert curve["bits_per_char"] == pytest.approx([2.8 / LN2, 2.2 / LN2])
    assert curve["train_bits_per_char"] == pytest.approx([3.0 / LN2, 2.0 / LN2])
    assert run_label(curve) == "c1 (char_lstm/tiny, char, 1.00 chars/token)"


def test_a_run_that_never_started_has_no_curve() -> None:
    with pytest.raises(ModelTrainerError) as raised:
        run_curve("early", [])
    assert raised.value.code == "INVALID_CONFIG"
    assert "'early' has no config event" in raised.value.message


def test_a_token_loss_without_chars_per_token_is_refused() -> None:
    config = make_config_event(
        job_id="t", user_id=0, model_family="gpt2", model_size="tiny", total_epochs=1
    )
    with pytest.raises(ModelTrainerError) as raised:
        run_curve("t", [config, _epoch(1, train=3.0, val=3.0, unit="token")])
    assert raised.value.code == "INVALID_CONFIG"
    assert "no chars_per_token" in raised.value.message


def test_a_run_without_validation_is_refused() -> None:
    with pytest.raises(ModelTrainerError) as raised:
        run_curve("nv", [_char_config(), _epoch(1, train=3.0, val=None)])
    assert raised.value.code == "INVALID_CONFIG"
    assert "no validation loss at epoch 1" in raised.value.message
    assert "val_fraction=0" in raised.value.message


def test_the_chart_draws_one_solid_and_one_dashed_line_per_run(run_events: list[Event]) -> None:
    char = run_curve("c1", [_char_config(), _epoch(1, train=3.0, val=2.8)])
    comparison: RunComparison = {"runs": [run_curve("r1", run_events), char]}
    figure = comparison_figure(comparison)
    (axes,) = figure.axes
    lines = axes.get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert [line.get_color() for line in lines] == ["C0", "C0", "C1", "C1"]
    assert numpy.asarray(lines[2].get_ydata(), dtype=float).tolist() == pytest.approx([2.8 / LN2])
    legend = axes.get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == [
        "r1 (gpt2/tiny, 2.00 chars/token)",
        "c1 (char_lstm/tiny, char, 1.00 chars/token)",
    ]
    assert axes.get_ylabel() == "loss, bits per character"
    assert figure_png(figure).startswith(PNG_MAGIC)


def test_the_view_displays_as_png(run_events: list[Event]) -> None:
    comparison: RunComparison = {"runs": [run_curve("r1", run_events)]}
    view = ComparisonView(comparison)
    assert view.comparison is comparison
    assert view.figure.axes[0].get_xlabel() == "epoch"
    assert view.png().startswith(PNG_MAGIC)
    assert view._repr_png_().startswith(PNG_MAGIC)

import io
import math

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from model_trainer.core.drawing import AggCanvas
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import (
    TrainerEpochMetricsV1,
    make_completed_metrics_event,
    make_config_event,
    make_epoch_event,
    make_eval_event,
)
from model_trainer.notebook.live_plot import (
    HEADROOM,
    MARGIN,
    CurveHistory,
    CurvePlot,
    data_span,
    fitted,
    inside,
    summary_html,
    summary_rows,
    thin,
)
from model_trainer.notebook.units import DISPLAY_UNITS, DisplayUnit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _epoch(epoch: int, val_loss: float | None) -> TrainerEpochMetricsV1:
    return make_epoch_event(
        job_id="j",
        user_id=1,
        epoch=epoch,
        total_epochs=3,
        global_step=10 * epoch,
        elapsed_s=61.0 * epoch,
        train_loss=2.0,
        train_perplexity=7.39,
        val_loss=val_loss,
        val_perplexity=None if val_loss is None else math.exp(val_loss),
        tokens_per_second=1500.0,
        learning_rate=1e-3,
        loss_unit="char",
        ts=0.0,
    )


def _history(events: list[Event]) -> CurveHistory:
    history = CurveHistory()
    for event in events:
        if event["type"] == "trainer.metrics.config.v1":
            history.add_config(event)
        elif event["type"] == "trainer.metrics.progress.v1":
            history.add_step(event["step"], event["loss"])
        elif event["type"] == "trainer.metrics.epoch.v1":
            history.add_epoch(event)
        elif event["type"] == "trainer.metrics.eval.v1":
            history.add_eval(event)
        elif event["type"] == "trainer.metrics.completed.v1":
            history.add_completed(event)
    return history


def test_thin_keeps_at_most_max_points_and_the_last_one() -> None:
    assert thin(list(range(10)), 3) == [1, 5, 9]
    assert thin(list(range(10)), 5) == [1, 3, 5, 7, 9]
    assert thin(list(range(10)), 10) == list(range(10))
    assert thin([], 3) == []
    thinned = thin(list(range(100_001)), 2000)
    assert len(thinned) <= 2000
    assert thinned[-1] == 100_000


def test_history_collects_the_curves(run_events: list[Event]) -> None:
    history = _history(run_events)
    assert history.snapshot() == {
        "step_x": [1, 2, 3, 4, 5, 6, 7, 8],
        "step_loss": [3.75, 3.5, 3.25, 3.0, 2.75, 2.5, 2.25, 2.0],
        "epoch_x": [4, 8],
        "epoch_loss": [3.0, 2.5],
        "val_x": [2, 4, 8],
        "val_loss": [3.6, 3.2, 2.7],
        "loss_unit": "token",
        "chars_per_token": 2.0,
    }
    assert history.snapshot(max_points=3)["step_x"] == [2, 5, 8]


def test_history_without_validation_or_chars_per_token() -> None:
    history = CurveHistory()
    history.add_config(
        make_config_event(
            job_id="j", user_id=1, model_family="m", model_size="s", total_epochs=3, ts=0.0
        )
    )
    history.add_epoch(_epoch(1, None))
    history.add_eval(
        make_eval_event(
            job_id="j",
            user_id=1,
            epoch=1,
            global_step=5,
            val_loss=2.5,
            val_perplexity=12.2,
            loss_unit="char",
            ts=0.0,
        )
    )
    data = history.snapshot()
    assert (data["epoch_x"], data["val_x"], data["val_loss"]) == ([10], [5], [2.5])
    assert (data["loss_unit"], data["chars_per_token"]) == ("char", None)


def test_the_plot_renders_png_in_either_unit(run_events: list[Event]) -> None:
    plot = CurvePlot()
    empty = plot.render(CurveHistory().snapshot(), "nats_per_token")
    assert empty.startswith(PNG_MAGIC)
    loss_axes, ppl_axes = plot.figure.axes
    waiting = [text for text in plot.figure.texts if text.get_visible()]
    assert [text.get_text() for text in waiting] == ["waiting for the first steps…"]
    hidden = loss_axes.yaxis.get_major_ticks()
    assert hidden
    assert not any(tick.label1.get_visible() for tick in hidden)
    data = _history(run_events).snapshot()
    nats = plot.render(data, "nats_per_token")
    assert not any(text.get_visible() for text in plot.figure.texts)
    shown = loss_axes.yaxis.get_major_ticks()
    assert shown
    assert all(tick.label1.get_visible() for tick in shown)
    assert loss_axes.get_ylabel() == "loss, nats/token"
    assert ppl_axes.get_ylabel() == "perplexity/token"
    assert loss_axes.get_ylim()[1] >= 3.75
    bits = plot.render(data, "bits_per_char")
    assert loss_axes.get_ylabel() == "loss, bits/char"
    assert ppl_axes.get_ylabel() == "perplexity/char"
    # 3.75 nats/token at 2 chars/token is 2.7 bits/char: the axis follows the unit.
    assert loss_axes.get_ylim()[1] < 3.5
    assert nats.startswith(PNG_MAGIC)
    assert bits.startswith(PNG_MAGIC)
    assert nats != bits


def test_the_plot_says_when_bits_per_char_cannot_be_drawn() -> None:
    history = CurveHistory()
    history.add_step(1, 3.0)
    plot = CurvePlot()
    plot.render(history.snapshot(), "bits_per_char")
    assert plot.figure.axes[0].get_ylabel() == (
        "loss, nats/token (bits/char needs chars_per_token in the config event)"
    )


def test_summary_rows_of_a_whole_run(run_events: list[Event]) -> None:
    history = _history(run_events)
    assert summary_rows(history, unit="nats_per_token", status="completed") == [
        ("status", "completed"),
        ("model", "gpt2/tiny"),
        ("epochs", "2/2"),
        ("steps", "8"),
        ("train loss (nats/token)", "2.5000"),
        ("train perplexity/token", "12.18"),
        ("validation loss (nats/token)", "2.7000"),
        ("validation perplexity/token", "14.88"),
        ("throughput", "2.0k tok/s"),
        ("training time", "00:04"),
        ("artifact", "runs/r1/model"),
    ]
    rows = dict(summary_rows(history, unit="bits_per_char", status="completed"))
    assert rows["train loss (bits/char)"] == f"{2.5 / 2.0 / math.log(2.0):.4f}"
    assert rows["train perplexity/char"] == f"{math.exp(2.5 / 2.0):.2f}"


def test_summary_rows_before_the_end_and_without_chars_per_token() -> None:
    history = CurveHistory()
    assert summary_rows(history, unit="nats_per_token", status="running") == [("status", "running")]
    history.add_epoch(_epoch(2, None))
    history.loss_unit = "token"
    assert summary_rows(history, unit="bits_per_char", status="cancelled") == [
        ("status", "cancelled"),
        ("epochs", "2/3"),
        ("steps", "20"),
        ("train loss (nats/token)", "2.0000"),
        ("train perplexity/token", "7.39"),
        ("throughput", "1.5k tok/s"),
        ("training time", "02:02"),
        ("note", "bits/char needs chars_per_token in the config event"),
    ]
    history.add_completed(
        make_completed_metrics_event(
            job_id="j", user_id=1, loss=1.5, perplexity=4.48, artifact_path="m", ts=0.0
        )
    )
    rows = dict(summary_rows(history, unit="nats_per_token", status="completed"))
    assert rows["train loss (nats/token)"] == "1.5000"
    assert "validation loss (nats/token)" not in rows


def test_training_time_adds_each_epoch_once() -> None:
    history = CurveHistory()
    for epoch in (1, 2, 2, 3):  # epoch 2 finished twice: stopped mid-way, resumed, re-run
        history.add_epoch(_epoch(epoch, None))
    rows = dict(summary_rows(history, unit="nats_per_token", status="completed"))
    assert rows["training time"] == "06:06"


def test_summary_html_is_a_plain_escaped_table() -> None:
    page = summary_html([("status", "failed: <b>x</b> & 'y'")], title='a "run"')
    assert page.startswith("<table")
    assert "<b>" not in page
    assert "failed: &lt;b&gt;x&lt;/b&gt; &amp; &#x27;y&#x27;" in page
    assert "a &quot;run&quot;" in page
    assert "<script" not in page


@pytest.mark.parametrize("unit", DISPLAY_UNITS)
def test_infinite_perplexity_still_draws(unit: DisplayUnit) -> None:
    history = CurveHistory()
    history.add_step(1, 800.0)
    history.add_step(2, 3.0)
    history.loss_unit = "char"
    png = CurvePlot().render(history.snapshot(), unit)
    assert png.startswith(PNG_MAGIC)


def test_spans_limits_and_room_to_grow() -> None:
    assert data_span([]) is None
    assert data_span([math.nan, math.inf]) is None
    assert data_span([3.0, math.nan, 1.0, -math.inf, 2.0]) == (1.0, 3.0)
    assert fitted((1.0, 3.0), below=0.5, above=0.25) == (0.0, 3.5)
    low, high = fitted((2.0, 2.0), below=1.0, above=1.0)  # one value: 5% of it each side
    assert (low, high) == pytest.approx((1.9, 2.1))
    assert inside((1.0, 3.0), (0.0, 3.0))
    assert not inside((1.0, 3.5), (0.0, 3.0))
    assert not inside((-0.5, 3.0), (0.0, 3.0))


def _steps(history: CurveHistory, first: int, last: int, shift: float = 0.0) -> None:
    for step in range(first, last + 1):
        history.add_step(step, 4.0 * math.exp(-step / 50.0) + 1.0 + shift)


def test_a_frame_draws_the_lines_over_saved_axes_until_they_leave_them() -> None:
    history = CurveHistory()
    plot = CurvePlot()
    loss_axes, ppl_axes = plot.figure.axes
    plot.render(history.snapshot(), "nats_per_token")
    assert (plot.full_draws, plot.tight) == (1, True)  # an empty frame has nothing to fit
    _steps(history, 1, 100)
    first = plot.render(history.snapshot(), "nats_per_token")
    assert (plot.full_draws, plot.tight) == (2, False)
    x_low, x_high = loss_axes.get_xlim()
    span = 99.0
    # Room to the right (steps to come) and below (losses fall), a margin elsewhere.
    assert (x_low, x_high) == pytest.approx((1 - MARGIN * span, 100 + (MARGIN + HEADROOM) * span))
    loss_low, _ = loss_axes.get_ylim()
    assert loss_low < 1.0 + 4.0 * math.exp(-2.0) - HEADROOM * 4.0 * 0.8
    # Twenty more steps fit the axes: the same axes, only the lines drawn again.
    _steps(history, 101, 120)
    second = plot.render(history.snapshot(), "nats_per_token")
    assert plot.full_draws == 2
    assert loss_axes.get_xlim() == (x_low, x_high)
    assert second != first
    assert Image.open(io.BytesIO(second)).mode == "P"  # a palette PNG: small
    # Past the right edge: new axes, drawn in full once.
    _steps(history, 121, 200)
    plot.render(history.snapshot(), "nats_per_token")
    assert plot.full_draws == 3
    assert loss_axes.get_xlim()[1] > 200
    # Another unit: new labels, so new axes.
    plot.render(history.snapshot(), "bits_per_char")
    assert plot.full_draws == 4
    # A tight frame (a run's end) fits the data with margins only, and is drawn in full.
    plot.render(history.snapshot(), "bits_per_char", tight=True)
    assert (plot.full_draws, plot.tight) == (5, True)
    assert loss_axes.get_xlim() == pytest.approx((1 - MARGIN * 199, 200 + MARGIN * 199))
    ppl_low, ppl_high = ppl_axes.get_ylim()
    assert 1.0 < ppl_low < ppl_high


def test_a_blitted_frame_shows_what_a_full_draw_shows() -> None:
    history = CurveHistory()
    _steps(history, 1, 100)
    plot = CurvePlot()
    plot.render(history.snapshot(), "nats_per_token")
    # Other curves on the same axes: none of the first frame's lines may be left.
    history = CurveHistory()
    _steps(history, 1, 110, shift=-0.3)
    blitted = plot.render(history.snapshot(), "nats_per_token")
    assert plot.full_draws == 1
    # The same frame drawn whole, on the same axes: the same pixels.
    limits = [axes.get_xlim() + axes.get_ylim() for axes in plot.figure.axes]
    whole = CurvePlot()
    whole.render(history.snapshot(), "nats_per_token")
    for axes, (x0, x1, y0, y1) in zip(whole.figure.axes, limits, strict=True):
        axes.set_xlim(x0, x1)
        axes.set_ylim(y0, y1)
    canvas: AggCanvas = FigureCanvasAgg(whole.figure)
    canvas.draw()
    for axes in whole.figure.axes:
        for line in axes.get_lines():
            axes.draw_artist(line)
    expected = np.asarray(canvas.buffer_rgba())[:, :, :3].astype(np.int16)
    shown = np.asarray(Image.open(io.BytesIO(blitted)).convert("RGB")).astype(np.int16)
    assert shown.shape == expected.shape
    # Equal but for the palette's rounding of the antialiased edges.
    assert np.mean(np.abs(shown - expected) > 48) < 0.001

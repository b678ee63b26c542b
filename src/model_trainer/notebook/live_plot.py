"""Loss and perplexity curves: an in-memory history and a figure redrawn into PNG bytes.

The history takes each event in O(1) (an append); a redraw reads its latest state, thinned
to at most ``max_points`` per curve. The figure is matplotlib's ``Figure`` on an Agg canvas
of its own: no pyplot state, no global backend switch, so a notebook's inline plots are left
alone. A frame redraws only the lines over a saved picture of the axes and encodes a
palette PNG (see ``CurvePlot``).
"""

from __future__ import annotations

import html
import math
from typing import Final, TypedDict, TypeVar

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.drawing import DRAW_LOCK, AggCanvas, canvas_png
from model_trainer.core.events.trainer_metrics_events import (
    TrainerCompletedMetricsV1,
    TrainerConfigV1,
    TrainerEpochMetricsV1,
    TrainerEvalMetricsV1,
)
from model_trainer.notebook.progress import format_duration, format_rate
from model_trainer.notebook.units import (
    DisplayUnit,
    display_perplexity,
    perplexity_label,
    shown_unit,
    unit_label,
)

MAX_POINTS: Final = 1000
_T = TypeVar("_T")


class CurveData(TypedDict):
    """The curves at one moment, in nats per ``loss_unit``."""

    step_x: list[int]
    step_loss: list[float]
    epoch_x: list[int]
    epoch_loss: list[float]
    val_x: list[int]
    val_loss: list[float]
    loss_unit: LossUnit
    chars_per_token: float | None


def thin(values: list[_T], max_points: int) -> list[_T]:
    """Every n-th value, at most ``max_points`` of them, always ending with the last one."""
    count = len(values)
    stride = -(-count // max_points) if count > max_points else 1
    return values[(count - 1) % stride :: stride]


class CurveHistory:
    """Train loss per progress step, train and validation loss per epoch, and the run's end."""

    def __init__(self) -> None:
        self.step_x: list[int] = []
        self.step_loss: list[float] = []
        self.epoch_x: list[int] = []
        self.epoch_loss: list[float] = []
        self.val_x: list[int] = []
        self.val_loss: list[float] = []
        self.loss_unit: LossUnit = "token"
        self.chars_per_token: float | None = None
        self.config: TrainerConfigV1 | None = None
        self.last_epoch: TrainerEpochMetricsV1 | None = None
        self.epoch_seconds: dict[int, float] = {}
        self.completed: TrainerCompletedMetricsV1 | None = None

    def add_config(self, event: TrainerConfigV1) -> None:
        """Take the loss unit and the characters per token of the run."""
        self.config = event
        self.loss_unit = event.get("loss_unit", self.loss_unit)
        self.chars_per_token = event.get("chars_per_token", self.chars_per_token)

    def add_step(self, step: int, loss: float) -> None:
        """Append one training step's loss."""
        self.step_x.append(step)
        self.step_loss.append(loss)

    def add_epoch(self, event: TrainerEpochMetricsV1) -> None:
        """Append an epoch's train loss, and its validation loss if there is one."""
        self.last_epoch = event
        self.epoch_seconds[event["epoch"]] = event["elapsed_s"]
        self.loss_unit = event["loss_unit"]
        self.epoch_x.append(event["global_step"])
        self.epoch_loss.append(event["train_loss"])
        if event["val_loss"] is not None:
            self.val_x.append(event["global_step"])
            self.val_loss.append(event["val_loss"])

    def add_eval(self, event: TrainerEvalMetricsV1) -> None:
        """Append a validation loss measured in the middle of an epoch."""
        self.loss_unit = event["loss_unit"]
        self.val_x.append(event["global_step"])
        self.val_loss.append(event["val_loss"])

    def add_completed(self, event: TrainerCompletedMetricsV1) -> None:
        """Keep the run's final figures."""
        self.completed = event

    def snapshot(self, max_points: int = MAX_POINTS) -> CurveData:
        """A copy of the curves, each thinned to at most ``max_points`` points."""
        return {
            "step_x": thin(self.step_x, max_points),
            "step_loss": thin(self.step_loss, max_points),
            "epoch_x": self.epoch_x[:],
            "epoch_loss": self.epoch_loss[:],
            "val_x": self.val_x[:],
            "val_loss": self.val_loss[:],
            "loss_unit": self.loss_unit,
            "chars_per_token": self.chars_per_token,
        }


_STEP_COLOR: Final = "#9ecae1"
_TRAIN_COLOR: Final = "#08519c"
_VAL_COLOR: Final = "#d94801"
HEADROOM: Final = 0.25
"""Room left past the data, as a share of its span, where the curves go next (to the right,
down for the losses), each time the axes are fitted: most frames keep the axes they have."""
MARGIN: Final = 0.05
"""Room left past the data, as a share of its span, on the sides the curves do not grow to."""

Limits = tuple[float, float]


def data_span(values: list[float]) -> Limits | None:
    """The smallest and largest finite value of ``values`` (None when there is none)."""
    finite = [value for value in values if math.isfinite(value)]
    return (min(finite), max(finite)) if finite else None


def fitted(span: Limits, *, below: float, above: float) -> Limits:
    """Limits around ``span``, ``below`` and ``above`` times its width left on each side.

    A span of one value has a width of 5% of its size.
    """
    low, high = span
    width = high - low or max(abs(high) * MARGIN, 1e-6)
    return low - below * width, high + above * width


def inside(span: Limits, limits: Limits) -> bool:
    """Whether ``span`` lies within ``limits``."""
    return limits[0] <= span[0] and span[1] <= limits[1]


class _Curves:
    """The three lines of one axes: train per step, train per epoch, validation.

    The lines are animated: a full draw of the figure leaves them out, and each frame draws
    them alone over the saved picture of the axes.
    """

    def __init__(self, axes: Axes, *, legend: bool) -> None:
        self.axes = axes
        (self.step,) = axes.plot([], [], color=_STEP_COLOR, linewidth=1.0, label="train (step)")
        (self.epoch,) = axes.plot([], [], "o-", color=_TRAIN_COLOR, label="train (epoch)")
        (self.val,) = axes.plot([], [], "s-", color=_VAL_COLOR, label="validation")
        for line in self.lines():
            line.set_animated(True)
        axes.set_autoscale_on(False)
        axes.set_xlabel("step")
        axes.grid(visible=True, alpha=0.3)
        if legend:
            # Above the charts, in a row: inside, some curve always runs under it.
            axes.legend(
                loc="lower left",
                bbox_to_anchor=(0.0, 1.0),
                ncols=3,
                fontsize="small",
                frameon=False,
            )

    def lines(self) -> tuple[Line2D, Line2D, Line2D]:
        return self.step, self.epoch, self.val


class _Frame(TypedDict):
    """What decides the axes of a frame: the labels, and the limits of each axis."""

    labels: tuple[str, str]
    x: Limits
    loss: Limits
    log_ppl: Limits
    empty: bool
    tight: bool


class CurvePlot:
    """Loss and perplexity side by side, drawn into PNG bytes.

    A frame updates the lines' data in place and draws only the lines, over a saved picture
    of the axes (ticks, labels, grid): the costly full draw, where text is laid out, happens
    only when the axes must change (the curves leave them, the unit changes) or a ``tight``
    frame is asked for. ``full_draws`` counts those.
    """

    def __init__(self, *, width_in: float = 9.0, height_in: float = 3.2, dpi: int = 80) -> None:
        self.figure = Figure(figsize=(width_in, height_in), dpi=dpi)
        self._canvas: AggCanvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.25)
        self._loss = _Curves(self.figure.add_subplot(1, 2, 1), legend=True)
        self._ppl = _Curves(self.figure.add_subplot(1, 2, 2), legend=False)
        self._ppl.axes.set_yscale("log")
        # Perplexity spans decades early and less than one late: ticks at 1, 2, 5 x 10^k,
        # written plainly, and no minor labels (text is the slow part of a frame).
        self._ppl.axes.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        self._ppl.axes.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        self._ppl.axes.yaxis.set_minor_locator(NullLocator())
        self._waiting = self.figure.text(
            0.5, 0.55, "waiting for the first steps…", ha="center", va="center", color="#666666"
        )
        self._frame: _Frame | None = None
        self._background: object | None = None
        self.full_draws = 0

    @property
    def tight(self) -> bool:
        """Whether the last frame's axes fit its data with no room to grow (or it had none)."""
        return self._frame is not None and self._frame["tight"]

    def render(self, data: CurveData, unit: DisplayUnit, *, tight: bool = False) -> bytes:
        """Draw ``data`` in ``unit`` (see ``shown_unit``) and return the PNG.

        ``tight``: fit the axes to the data with no room to grow (a run's final picture).
        """
        shown = shown_unit(
            unit, loss_unit=data["loss_unit"], chars_per_token=data["chars_per_token"]
        )
        scale = shown["scale"]
        curves = (
            (data["step_x"], data["step_loss"]),
            (data["epoch_x"], data["epoch_loss"]),
            (data["val_x"], data["val_loss"]),
        )
        losses = [[y * scale for y in ys] for _, ys in curves]
        ppls = [[display_perplexity(y, shown["unit"]) for y in ys] for ys in losses]
        for line, (xs, _), ys in zip(self._loss.lines(), curves, losses, strict=True):
            line.set_data(xs, ys)
        for line, (xs, _), ys in zip(self._ppl.lines(), curves, ppls, strict=True):
            line.set_data(xs, ys)
        note = f" ({shown['note']})" if shown["note"] else ""
        labels = (f"loss, {unit_label(shown['unit'])}{note}", perplexity_label(shown["unit"]))
        x_span = data_span([float(x) for xs, _ in curves for x in xs])
        loss_span = data_span([y for ys in losses for y in ys])
        log_span = data_span([math.log10(y) for ys in ppls for y in ys if y > 0])
        with DRAW_LOCK:
            frame = self._frame
            fits = (
                not tight
                and self._background is not None
                and frame is not None
                and frame["labels"] == labels
                and frame["empty"] == (x_span is None)
                and (x_span is None or inside(x_span, frame["x"]))
                and (loss_span is None or inside(loss_span, frame["loss"]))
                and (log_span is None or inside(log_span, frame["log_ppl"]))
            )
            if fits and self._background is not None:
                self._canvas.restore_region(self._background)
            else:
                grow = 0.0 if tight else HEADROOM
                self._draw_axes(
                    {
                        "labels": labels,
                        "x": fitted(x_span or (0.0, 1.0), below=MARGIN, above=MARGIN + grow),
                        "loss": fitted(loss_span or (0.0, 1.0), below=MARGIN + grow, above=MARGIN),
                        "log_ppl": fitted(
                            log_span or (0.0, 1.0), below=MARGIN + grow, above=MARGIN
                        ),
                        "empty": x_span is None,
                        "tight": tight or x_span is None,
                    }
                )
            for curves_axes in (self._loss, self._ppl):
                for line in curves_axes.lines():
                    curves_axes.axes.draw_artist(line)
            return canvas_png(self._canvas)

    def _draw_axes(self, frame: _Frame) -> None:
        """Set the axes of ``frame``, draw all but the lines, and save that picture."""
        self._loss.axes.set_ylabel(frame["labels"][0])
        self._ppl.axes.set_ylabel(frame["labels"][1])
        for curves_axes in (self._loss.axes, self._ppl.axes):
            curves_axes.set_xlim(frame["x"])
            # Before the first step: an empty frame and a word, not made-up tick values.
            curves_axes.tick_params(labelbottom=not frame["empty"], labelleft=not frame["empty"])
        self._loss.axes.set_ylim(frame["loss"])
        low, high = frame["log_ppl"]
        self._ppl.axes.set_ylim(10.0**low, 10.0**high)
        self._waiting.set_visible(frame["empty"])
        self._canvas.draw()
        self._background = self._canvas.copy_from_bbox(self.figure.bbox)
        self._frame = frame
        self.full_draws += 1


def summary_rows(history: CurveHistory, *, unit: DisplayUnit, status: str) -> list[tuple[str, str]]:
    """The final metrics of a run as (name, value) rows, losses in ``unit``."""
    shown = shown_unit(unit, loss_unit=history.loss_unit, chars_per_token=history.chars_per_token)
    label = unit_label(shown["unit"])
    rows: list[tuple[str, str]] = [("status", status)]
    if history.config is not None:
        rows.append(("model", f"{history.config['model_family']}/{history.config['model_size']}"))
    epoch = history.last_epoch
    completed = history.completed
    train: float | None = None
    val: float | None = None
    if epoch is not None:
        rows.append(("epochs", f"{epoch['epoch']}/{epoch['total_epochs']}"))
        rows.append(("steps", str(epoch["global_step"])))
        train, val = epoch["train_loss"], epoch["val_loss"]
    if completed is not None:
        train, val = completed["loss"], completed.get("val_loss", val)
    for name, value in (("train", train), ("validation", val)):
        if value is not None:
            shown_value = value * shown["scale"]
            rows.append((f"{name} loss ({label})", f"{shown_value:.4f}"))
            ppl = display_perplexity(shown_value, shown["unit"])
            rows.append((f"{name} {perplexity_label(shown['unit'])}", f"{ppl:.2f}"))
    if epoch is not None:
        rows.append(("throughput", format_rate(epoch["tokens_per_second"])))
        # Each epoch's own training time, once per epoch (an epoch re-run after a resume
        # counts as it finished), without validation and checkpoints.
        training_s = sum(history.epoch_seconds.values())
        rows.append(("training time", format_duration(training_s)))
    if history.completed is not None:
        rows.append(("artifact", history.completed["artifact_path"]))
    if shown["note"]:
        rows.append(("note", shown["note"]))
    return rows


_CELL: Final = "border:1px solid #ccc;padding:2px 8px;text-align:left"


def summary_html(rows: list[tuple[str, str]], *, title: str = "final metrics") -> str:
    """A plain HTML table of ``rows`` (inline styles only, every text escaped)."""
    body = "".join(
        f'<tr><th style="{_CELL}">{html.escape(name, quote=True)}</th>'
        f'<td style="{_CELL}">{html.escape(value, quote=True)}</td></tr>'
        for name, value in rows
    )
    return (
        f'<table style="border-collapse:collapse;font-family:sans-serif;font-size:13px">'
        f'<caption style="text-align:left;font-weight:bold">{html.escape(title, quote=True)}'
        f"</caption>{body}</table>"
    )

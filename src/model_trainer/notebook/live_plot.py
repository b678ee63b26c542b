"""Loss and perplexity curves: an in-memory history and a figure redrawn into PNG bytes.

The history takes each event in O(1) (an append); a redraw reads its latest state, thinned
to at most ``max_points`` per curve. The figure is matplotlib's ``Figure`` on an Agg canvas
of its own: no pyplot state, no global backend switch, so a notebook's inline plots are left
alone.
"""

from __future__ import annotations

import html
from typing import Final, TypedDict, TypeVar

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.drawing import render_png
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

MAX_POINTS: Final = 2000
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


class _Curves:
    """The three lines of one axes: train per step, train per epoch, validation."""

    def __init__(self, axes: Axes, *, legend: bool) -> None:
        self.axes = axes
        (self.step,) = axes.plot([], [], color=_STEP_COLOR, linewidth=1.0, label="train (step)")
        (self.epoch,) = axes.plot([], [], "o-", color=_TRAIN_COLOR, label="train (epoch)")
        (self.val,) = axes.plot([], [], "s-", color=_VAL_COLOR, label="validation")
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


class CurvePlot:
    """Loss and perplexity side by side, redrawn in place into PNG bytes."""

    def __init__(self, *, width_in: float = 9.0, height_in: float = 3.2, dpi: int = 80) -> None:
        self.figure = Figure(figsize=(width_in, height_in), dpi=dpi)
        FigureCanvasAgg(self.figure)
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

    def render(self, data: CurveData, unit: DisplayUnit) -> bytes:
        """Draw ``data`` in ``unit`` (see ``shown_unit``) and return the PNG."""
        shown = shown_unit(
            unit, loss_unit=data["loss_unit"], chars_per_token=data["chars_per_token"]
        )
        scale = shown["scale"]
        curves = (
            (data["step_x"], data["step_loss"]),
            (data["epoch_x"], data["epoch_loss"]),
            (data["val_x"], data["val_loss"]),
        )
        for line, (xs, ys) in zip(self._loss.lines(), curves, strict=True):
            line.set_data(xs, [y * scale for y in ys])
        for line, (xs, ys) in zip(self._ppl.lines(), curves, strict=True):
            line.set_data(xs, [display_perplexity(y * scale, shown["unit"]) for y in ys])
        note = f" ({shown['note']})" if shown["note"] else ""
        self._loss.axes.set_ylabel(f"loss, {unit_label(shown['unit'])}{note}")
        self._ppl.axes.set_ylabel(perplexity_label(shown["unit"]))
        empty = not (data["step_x"] or data["epoch_x"] or data["val_x"])
        self._waiting.set_visible(empty)
        for curves_axes in (self._loss.axes, self._ppl.axes):
            curves_axes.relim()
            curves_axes.autoscale_view()
            # Before the first step: an empty frame and a word, not made-up tick values.
            curves_axes.tick_params(labelbottom=not empty, labelleft=not empty)
        return render_png(self.figure, compress_level=1)


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

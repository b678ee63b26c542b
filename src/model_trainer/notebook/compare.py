"""Several runs' validation curves on one chart, in bits per character.

A run's losses are in nats per token of its own tokenizer, so a char model and a BPE model
cannot be compared as they are. Its config event says how many characters a token covers
on average (``chars_per_token``); dividing a loss by it and by ``ln 2`` gives bits per
character, the same unit for every tokenizer. The curves come from a run's events, so a
run that was stopped and resumed draws as one curve (see ``run_history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.drawing import DRAW_LOCK, render_png
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import is_config
from model_trainer.core.jobs.report import run_history
from model_trainer.notebook.units import bits_per_char, chars_per_loss_unit


class RunCurve(TypedDict):
    """One run's curves: per finished epoch, validation and training bits per character."""

    run_id: str
    model_family: str
    model_size: str
    tokenizer_kind: str | None
    loss_unit: LossUnit
    chars_per_token: float
    epochs: list[int]
    bits_per_char: list[float]
    train_bits_per_char: list[float]


class RunComparison(TypedDict):
    """The curves of several runs, in the order they were asked for."""

    runs: list[RunCurve]


def run_curve(run_id: str, events: Sequence[Event]) -> RunCurve:
    """The bits-per-character curves of the run whose events are ``events``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when the run has no config event (it never
            started training), its config event lacks ``chars_per_token`` for a token loss,
            or an epoch has no validation loss (a run trained with ``val_fraction=0``).
    """
    configs = [event for event in events if is_config(event)]
    if not configs:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"run_id {run_id!r} has no config event: it never started training"
        )
    config = configs[-1]
    history = run_history(events)
    unit = history["loss_unit"]
    chars = chars_per_loss_unit(unit, config.get("chars_per_token"))
    if chars is None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"run_id {run_id!r}: its config event has no chars_per_token, so its loss in nats "
            f"per token cannot be turned into bits per character",
        )
    val: list[float] = []
    for point in history["epochs"]:
        loss = point["val_loss"]
        if loss is None:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"run_id {run_id!r} has no validation loss at epoch {point['epoch']} "
                f"(trained with val_fraction=0); compare_runs compares validation curves",
            )
        val.append(bits_per_char(loss, chars))
    return {
        "run_id": run_id,
        "model_family": config["model_family"],
        "model_size": config["model_size"],
        "tokenizer_kind": config.get("tokenizer_kind"),
        "loss_unit": unit,
        "chars_per_token": chars,
        "epochs": [point["epoch"] for point in history["epochs"]],
        "bits_per_char": val,
        "train_bits_per_char": [
            bits_per_char(point["train_loss"], chars) for point in history["epochs"]
        ],
    }


def run_label(run: RunCurve) -> str:
    """``<run id> (<family>/<size>, <tokenizer>, <chars per token> chars/token)``."""
    tokenizer = "" if run["tokenizer_kind"] is None else f", {run['tokenizer_kind']}"
    return (
        f"{run['run_id']} ({run['model_family']}/{run['model_size']}{tokenizer}, "
        f"{run['chars_per_token']:.2f} chars/token)"
    )


def comparison_figure(
    comparison: RunComparison, *, width_in: float = 8.0, height_in: float = 4.5
) -> Figure:
    """Validation bits per character against the epoch, one colour per run.

    Each run's training curve is drawn dashed in its colour. The figure has its own Agg
    canvas: no pyplot, no global backend.
    """
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for index, run in enumerate(comparison["runs"]):
        color = f"C{index % 10}"
        axes.plot(run["epochs"], run["bits_per_char"], "o-", color=color, label=run_label(run))
        axes.plot(run["epochs"], run["train_bits_per_char"], "--", color=color, alpha=0.5)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss, bits per character")
    axes.set_title("validation (solid) and training (dashed) loss, bits per character")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(visible=True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    with DRAW_LOCK:
        figure.tight_layout()
    return figure


def figure_png(figure: Figure) -> bytes:
    """The PNG bytes of ``figure``."""
    return render_png(figure)


class ComparisonView:
    """A comparison that displays as its chart in a notebook (``_repr_png_``).

    ``figure`` is the matplotlib ``Figure``, to restyle or save; ``png()`` draws it.
    """

    def __init__(self, comparison: RunComparison) -> None:
        self.comparison = comparison
        self.figure = comparison_figure(comparison)

    def png(self) -> bytes:
        """The chart as PNG bytes."""
        return figure_png(self.figure)

    def _repr_png_(self) -> bytes:
        return self.png()

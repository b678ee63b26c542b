"""A run's static record: ``curves.png`` and a self-contained ``report.html``.

The curves are drawn from the run's metric events with matplotlib's Agg canvas on a
``Figure`` of its own, so no global backend is switched and a notebook's inline plots are
left alone. The report embeds the curves as a base64 PNG and holds no scripts and no
external styles; every text in it is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from typing import Final, TypedDict

from model_trainer.core.contracts.model import (
    CharScore,
    LossUnit,
    ModelTrainConfig,
    PreparedLMModel,
    TrainOutcome,
)
from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.drawing import render_png
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import (
    is_config,
    is_epoch,
    is_progress_metrics,
)
from model_trainer.core.jobs.evolution import EpochEvolution

MAX_PERPLEXITY_LOSS: Final = 100.0
HEAT_FULL_BITS: Final = 8.0
_MONO: Final = "font-family: monospace; white-space: pre-wrap; text-align: left"


class EpochPoint(TypedDict):
    """The figures of one finished epoch."""

    epoch: int
    step: int
    train_loss: float
    val_loss: float | None


class RunHistory(TypedDict):
    """A run's curves: train loss per progress step, and per-epoch train/val losses."""

    steps: list[tuple[int, float]]
    epochs: list[EpochPoint]
    loss_unit: LossUnit


def run_history(events: Sequence[Event]) -> RunHistory:
    """Collect the curves of a run's events, in order.

    A resumed run goes back to its checkpoint, so a progress step at or before one already
    seen drops the points from that step on (they were lost with the stopped process), and
    an epoch seen again replaces the earlier one: the curve continues where it stopped.
    """
    steps: list[tuple[int, float]] = []
    epochs: list[EpochPoint] = []
    unit: LossUnit = "token"
    for event in events:
        if is_config(event):
            unit = event.get("loss_unit", unit)
        elif is_progress_metrics(event):
            step = event["step"]
            steps = [point for point in steps if point[0] < step]
            epochs = [point for point in epochs if point["step"] < step]
            steps.append((step, event["loss"]))
        elif is_epoch(event):
            epochs = [point for point in epochs if point["epoch"] < event["epoch"]]
            unit = event["loss_unit"]
            epochs.append(
                {
                    "epoch": event["epoch"],
                    "step": event["global_step"],
                    "train_loss": event["train_loss"],
                    "val_loss": event["val_loss"],
                }
            )
    return {"steps": steps, "epochs": epochs, "loss_unit": unit}


def perplexity(loss: float) -> float:
    """``exp(loss)``, with the loss capped so a diverged run still draws."""
    return math.exp(min(loss, MAX_PERPLEXITY_LOSS))


def best_point(history: RunHistory) -> tuple[int, float] | None:
    """The step and loss of the lowest validation loss of ``history`` (the earliest of ties)."""
    points = [
        (point["step"], point["val_loss"])
        for point in history["epochs"]
        if point["val_loss"] is not None
    ]
    return min(points, key=lambda point: point[1], default=None)


def draw_curves(history: RunHistory) -> bytes:
    """The PNG of loss and perplexity against the global step, train and validation.

    The lowest validation loss (the run's best checkpoint) is marked with a star.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10.0, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    # Fixed margins and legend corner: a layout pass and a legend search cost a third of a draw.
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.96, wspace=0.22)
    loss_axes, ppl_axes = figure.subplots(1, 2)
    step_x = [step for step, _ in history["steps"]]
    step_loss = [loss for _, loss in history["steps"]]
    epoch_x = [point["step"] for point in history["epochs"]]
    train = [point["train_loss"] for point in history["epochs"]]
    val_points = [
        (point["step"], point["val_loss"])
        for point in history["epochs"]
        if point["val_loss"] is not None
    ]
    val_x = [step for step, _ in val_points]
    val = [loss for _, loss in val_points]
    best = best_point(history)
    unit = history["loss_unit"]
    for axes, transform, label in (
        (loss_axes, _identity, f"loss (nats per {unit})"),
        (ppl_axes, perplexity, f"perplexity (per {unit})"),
    ):
        axes.plot(step_x, [transform(v) for v in step_loss], color="#9ecae1", label="train (step)")
        axes.plot(
            epoch_x, [transform(v) for v in train], "o-", color="#08519c", label="train (epoch)"
        )
        axes.plot(val_x, [transform(v) for v in val], "s-", color="#d94801", label="validation")
        if best is not None:
            axes.plot(
                [best[0]],
                [transform(best[1])],
                "*",
                color="#cb181d",
                markersize=16,
                label=f"best (step {best[0]})",
            )
        axes.set_xlabel("step")
        axes.set_ylabel(label)
        axes.grid(visible=True, alpha=0.3)
        axes.legend(loc="upper right")
    ppl_axes.set_yscale("log")
    return render_png(figure)


def _identity(value: float) -> float:
    return value


def heat_color(bits: float) -> str:
    """The background of a character that cost ``bits``: clear at 0, deep red from 8 bits."""
    alpha = max(0.0, min(bits / HEAT_FULL_BITS, 1.0))
    return f"rgba(215, 48, 39, {alpha:.2f})"


def bits_html(text: str, bits: Sequence[float]) -> str:
    """Each character of ``text`` as a span shaded by its surprisal (``bits``, one each)."""
    return "".join(
        f'<span style="background:{heat_color(cost)}" title="{cost:.2f} bits">'
        f"{html.escape(char)}</span>"
        for char, cost in zip(text, bits, strict=False)
    )


def evolution_html(rows: Sequence[EpochEvolution]) -> str:
    """A table row per epoch: its closing sample (prompt in bold) and its probe heatmap."""
    cells = [
        f"<tr><th>{row['epoch']}</th>"
        f'<td style="{_MONO}"><b>{html.escape(row["prompt"] or "")}</b>'
        f"{html.escape(row['sample'] or '')}</td>"
        f'<td><div style="{_MONO}">{bits_html(row["probe"] or "", row["probe_bits"] or [])}'
        f"</div>{_fmt(row['probe_bits_per_char'], 2)} bits/char</td></tr>"
        for row in rows
    ]
    return (
        "<table><tr><th>epoch</th><th>sample</th><th>probe surprisal</th></tr>\n"
        + "\n".join(cells)
        + "\n</table>"
    )


class EvolutionView:
    """A run's samples and probe heatmaps side by side by epoch (``_repr_html_``).

    ``rows`` are its epochs (``evolution_by_epoch``); ``html`` is the table, a note when
    there is none yet.
    """

    def __init__(self, rows: Sequence[EpochEvolution]) -> None:
        self.rows = list(rows)
        self.html = (
            evolution_html(self.rows)
            if self.rows
            else "<p>No epoch has ended with a sample or a probe yet (watch_learning).</p>"
        )

    def _repr_html_(self) -> str:
        return self.html


def heatmap_html(scores: Sequence[CharScore]) -> str:
    """Each scored character as a coloured span whose title gives its surprisal and rank."""
    spans = [
        f'<span style="background:{heat_color(score["surprisal_bits"])}" '
        f'title="{score["surprisal_bits"]:.2f} bits, rank {score["rank"]}">'
        f"{html.escape(score['char'])}</span>"
        for score in scores
    ]
    return "".join(spans)


_STYLE: Final = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }
pre, .heat { font-family: monospace; white-space: pre-wrap; background: #f7f7f7;
  padding: 0.8em; border: 1px solid #ddd; }
img { max-width: 100%; }
"""


def render_report(
    *,
    run_id: str,
    curves_png: bytes,
    metrics: Sequence[tuple[str, str]],
    prompt: str,
    sample: str,
    scores: Sequence[CharScore],
    evolution: Sequence[EpochEvolution] = (),
) -> str:
    """The whole ``report.html`` of a run, one self-contained page.

    ``evolution`` (a run that watched itself learn) adds a section of each epoch's sample
    and probe heatmap, side by side.
    """
    image = base64.b64encode(curves_png).decode("ascii")
    rows = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in metrics
    )
    title = html.escape(f"model-trainer run {run_id}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{title}</h1>
<h2>Curves</h2>
<img alt="loss and perplexity curves" src="data:image/png;base64,{image}">
<h2>Final metrics</h2>
<table>
{rows}
</table>
<h2>Sample</h2>
<p>Prompt:</p>
<pre>{html.escape(prompt)}</pre>
<p>Continuation:</p>
<pre>{html.escape(sample)}</pre>
<h2>Surprisal of a validation snippet</h2>
<p>Each character is shaded by how surprised the model was (deep red: 8 bits or more);
hover for its bits and rank.</p>
<div class="heat">{heatmap_html(scores)}</div>
{_evolution_section(evolution)}
</body>
</html>
"""


def _evolution_section(rows: Sequence[EpochEvolution]) -> str:
    if not rows:
        return ""
    return (
        "<h2>How it learned</h2>\n<p>At each epoch's end: a sample from the same prompt and "
        "seed, and the probe passage shaded by each character's surprisal.</p>\n"
        + evolution_html(rows)
    )


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report_metrics(
    cfg: ModelTrainConfig,
    prepared: PreparedLMModel,
    outcome: TrainOutcome,
    chars_per_token: float,
) -> list[tuple[str, str]]:
    """The final-metrics table of a run's report, as (name, value) rows."""
    unit = outcome["loss_unit"]
    val_loss = outcome["val_loss"]
    val_bpc = None if val_loss is None else bits_per_char(val_loss, unit, chars_per_token)
    params = sum(p.numel() for p in prepared["model"].parameters())
    return [
        ("model", f"{cfg['model_family']} {cfg['model_size']} ({params:,} parameters)"),
        ("corpus", cfg["corpus_path"]),
        ("tokenizer", f"{prepared['tokenizer'].kind}, {prepared['tokenizer'].vocab_size} ids"),
        ("epochs", str(outcome["epochs_completed"])),
        ("optimizer steps", str(outcome["steps"])),
        (f"train loss (nats per {unit})", _fmt(outcome["loss"])),
        (f"validation loss (nats per {unit})", _fmt(val_loss)),
        ("validation perplexity", _fmt(outcome["val_perplexity"], 2)),
        ("validation bits per character", _fmt(val_bpc)),
        ("characters per token", _fmt(chars_per_token, 3)),
        ("tokens per second", f"{outcome['tokens_per_second']:.0f}"),
        ("device", prepared["device"]),
    ]

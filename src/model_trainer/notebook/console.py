"""The console sink: a tqdm bar per epoch and one compact text line per epoch, on a stream.

Before training starts, each stage of preparing the data (training the tokenizer, encoding
a split) has a bar of its own, from the job's progress events; a warning event (a sink
switched off, a file not written after training) is a line.

The one text renderer of a job's events: the terminal's view and the command line's progress.

Used where there is no notebook front end (a terminal, CI running the notebooks): nothing is
displayed, nothing waits on widgets. Every figure on the line comes from the events (time
left included), so a fixed list of events always prints the same text.
"""

from __future__ import annotations

import sys
from typing import Final, Protocol, TextIO

import tqdm

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import (
    TrainerEpochMetricsV1,
    TrainerProgressMetricsV1,
)
from model_trainer.notebook.progress import ProgressTracker, format_duration, format_rate
from model_trainer.notebook.units import (
    DisplayUnit,
    ShownUnit,
    display_perplexity,
    shown_unit,
    unit_label,
)

BAR_FORMAT: Final = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}"
STAGE_FORMAT: Final = "{desc}: {percentage:3.0f}%|{bar}|"


class _Bar(Protocol):
    n: int
    total: int | None

    def update(self, n: int) -> object: ...

    def set_postfix_str(self, s: str, refresh: bool) -> None: ...

    def close(self) -> None: ...


class ConsoleSink:
    """Prints a run's progress and epochs as text; an event sink.

    Args:
        stream: where to write (default: standard error, looked up at construction).
        unit: the loss unit to print: ``nats_per_token`` or ``bits_per_char``.
        mininterval: the shortest time in seconds between two bar refreshes.
        ncols: the bar's width in characters (None: the stream's width, else 10 for the bar).
    """

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        unit: DisplayUnit = "nats_per_token",
        mininterval: float = 0.5,
        ncols: int | None = None,
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._unit = unit
        self._mininterval = mininterval
        self._ncols = ncols
        self._progress = ProgressTracker()
        self._loss_unit: ShownUnit = shown_unit(unit, loss_unit="token", chars_per_token=None)
        self._chars_per_token: float | None = None
        self._bar: _Bar | None = None
        self._bar_epoch = 0
        self._stage = ""
        self._training = False
        self._lines: list[str] = []

    def emit(self, event: Event) -> None:
        """Advance the bar on progress; a line for the config, epochs, evals, samples, the end."""
        if event["type"] == "trainer.metrics.progress.v1":
            self._progress.on_progress(event)
            self._advance(event)
        elif event["type"] == "trainer.metrics.epoch.v1":
            self._progress.on_epoch(event)
            self._set_unit(event["loss_unit"])
            self._end_bar(fill=True)
            self._line(self._epoch_line(event))
        elif event["type"] == "trainer.metrics.eval.v1":
            self._set_unit(event["loss_unit"])
            measured = self._loss(event["val_loss"])
            self._line(f"step {event['global_step']}: val {measured} {self._label()}")
        elif event["type"] == "trainer.job.progress.v1" and "warning" in event.get("payload", {}):
            self._line(event["message"])
        elif event["type"] == "trainer.job.progress.v1" and not self._training:
            self._stage_bar(event["message"], event["progress"])
        elif event["type"] == "trainer.metrics.config.v1":
            self._training = True
            self._progress.on_config(event)
            self._chars_per_token = event.get("chars_per_token")
            self._set_unit(event.get("loss_unit", "token"))
            steps = event.get("steps_per_epoch")
            plan = f" x {steps} steps" if steps is not None else ""
            self._line(
                f"{event['model_family']}/{event['model_size']}: "
                f"{event['total_epochs']} epochs{plan}, loss in {self._label()}"
            )
        elif event["type"] == "trainer.metrics.completed.v1":
            val = event.get("val_loss")
            val_text = "" if val is None else f" · val {self._loss(val)}"
            self._line(
                f"completed: train {self._loss(event['loss'])}{val_text} {self._label()}"
                f" · model in {event['artifact_path']}"
            )
        elif event["type"] == "trainer.metrics.sample.v1":
            self._line(f"sample at step {event['step']}: [{event['prompt']}]{event['text']}")
        elif event["type"] == "trainer.job.failed.v1":
            what = "cancelled" if event["code"] == "TRAINING_CANCELLED" else "failed"
            self._line(f"{what}: {event['code']}: {event['message']}")
        elif event["type"] == "trainer.job.completed.v1":
            self._end_bar(fill=False)

    def show(self) -> None:
        """Print every line printed so far again (the bar goes on from the next step)."""
        self._end_bar(fill=False)
        self._stream.write("".join(line + "\n" for line in self._lines))
        self._stream.flush()

    def close(self) -> None:
        """Close the bar if one is open; safe to call twice."""
        self._end_bar(fill=False)

    def _set_unit(self, loss_unit: LossUnit) -> None:
        self._loss_unit = shown_unit(
            self._unit, loss_unit=loss_unit, chars_per_token=self._chars_per_token
        )

    def _label(self) -> str:
        return unit_label(self._loss_unit["unit"])

    def _loss(self, nats: float) -> str:
        value = nats * self._loss_unit["scale"]
        ppl = display_perplexity(value, self._loss_unit["unit"])
        return f"{value:.4f} (ppl {ppl:.2f})"

    def _advance(self, event: TrainerProgressMetricsV1) -> None:
        per_epoch = event["steps_per_epoch"]
        in_epoch = (event["step"] - 1) % per_epoch + 1 if per_epoch > 0 else event["step"]
        if self._bar is not None and self._bar_epoch != event["epoch"]:
            self._end_bar(fill=False)
        snapshot = self._progress.snapshot()
        postfix = (
            f"loss {event['loss'] * self._loss_unit['scale']:.4f}"
            f" · {format_rate(event['tokens_per_second'])}"
            f" · {format_duration(snapshot['eta_s'])} left"
        )
        if self._bar is None:
            self._bar_epoch = event["epoch"]
            self._bar = self._new_bar(
                f"epoch {event['epoch']}/{event['total_epochs']}",
                total=per_epoch if per_epoch > 0 else None,
                initial=in_epoch - 1,
                bar_format=BAR_FORMAT,
            )
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(in_epoch - self._bar.n)

    def _stage_bar(self, stage: str, percent: int) -> None:
        """Advance the bar of data stage ``stage`` to ``percent``, a new bar for a new stage."""
        if self._bar is not None and self._stage != stage:
            self._end_bar(fill=False)
        if self._bar is None:
            self._stage = stage
            self._bar = self._new_bar(stage, total=100, initial=0, bar_format=STAGE_FORMAT)
        self._bar.update(percent - self._bar.n)

    def _new_bar(self, desc: str, *, total: int | None, initial: int, bar_format: str) -> _Bar:
        bar: _Bar = tqdm.tqdm(
            total=total,
            initial=initial,
            desc=desc,
            file=self._stream,
            mininterval=self._mininterval,
            miniters=1,
            position=0,
            leave=True,
            ncols=self._ncols,
            bar_format=bar_format,
        )
        return bar

    def _end_bar(self, *, fill: bool) -> None:
        bar, self._bar = self._bar, None
        if bar is None:
            return
        if fill and bar.total is not None and bar.n < bar.total:
            bar.update(bar.total - bar.n)
        bar.close()

    def _epoch_line(self, event: TrainerEpochMetricsV1) -> str:
        val = event["val_loss"]
        val_text = "" if val is None else f" · val {self._loss(val)}"
        train = self._loss(event["train_loss"])
        return (
            f"epoch {event['epoch']}/{event['total_epochs']}: train {train}{val_text}"
            f" {self._label()} · {format_rate(event['tokens_per_second'])}"
            f" · {format_duration(event['elapsed_s'])}"
        )

    def _line(self, text: str) -> None:
        self._end_bar(fill=False)
        self._lines.append(text)
        self._stream.write(text + "\n")
        self._stream.flush()

"""The live training panel: progress bar, Stop button, status line, loss and perplexity charts.

``TrainingPanel`` is an event sink. ``emit`` runs on the training thread and does O(1) work:
it records the event in memory and, once at least ``min_redraw_s`` of wall-clock time has
passed since the last frame was finished, redraws the latest state into the widgets (frames
in between are never drawn). The charts are one ``ipywidgets.Image`` updated in place: no
``clear_output``, no output per step. When the run ends, the panel's output is replaced by a
static PNG of the final curves, and an HTML table of the final metrics fills the output
reserved under it: ordinary outputs, so a saved, reopened or converted notebook shows them
and holds no widget that would need the widget state to display.
"""

from __future__ import annotations

import html
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Final, Protocol, TextIO

import ipywidgets

from model_trainer.core.events.codec import Event
from model_trainer.notebook.console import ConsoleSink
from model_trainer.notebook.frontend import (
    DisplayFn,
    html_output,
    in_notebook,
    ipython_display,
    png_output,
)
from model_trainer.notebook.live_plot import CurveHistory, CurvePlot, summary_html, summary_rows
from model_trainer.notebook.progress import (
    ProgressTracker,
    Throttle,
    progress_fraction,
    progress_text,
)
from model_trainer.notebook.units import DISPLAY_UNITS, DisplayUnit, unit_label

_BAR_STEPS: Final = 1000
_UNIT_BY_NAME: Final[dict[str, DisplayUnit]] = {unit: unit for unit in DISPLAY_UNITS}


class _Button(Protocol):
    description: str
    disabled: bool

    def on_click(self, callback: Callable[[object], None]) -> None: ...

    def click(self) -> None: ...


class _Progress(Protocol):
    value: int
    bar_style: str


class _Observable(Protocol):
    def observe(self, handler: Callable[[Mapping[str, object]], None], names: str) -> None: ...


class _Text(_Observable, Protocol):
    value: str


class _Image(_Observable, Protocol):
    value: bytes


class _Toggle(_Observable, Protocol):
    value: str


DRAW_BUDGET = 100.0
"""Training time per unit of drawing time: frames cost about 1% of training (a 65 ms frame
on 2 CPU cores; slower frames are still drawn every ``MAX_CHART_GAP_S``)."""

MAX_CHART_GAP_S = 5.0
"""The charts are redrawn at least this often, however slow a frame was."""


class TrainingPanel:
    """Live view of one training run, fed by its events; ``on_stop`` is the job's cancel.

    Args:
        on_stop: called (once) when the Stop button is clicked.
        unit: the loss unit to draw: ``nats_per_token`` or ``bits_per_char``.
        min_redraw_s: the shortest wall-clock time from the end of one frame to the next
            redraw by ``emit``.
        title: shown above the bar, followed by the model once the config event is in.
        display: IPython's ``display`` (or any function with its signature).
        clock: the wall clock the throttle reads.
    """

    def __init__(
        self,
        on_stop: Callable[[], None],
        *,
        unit: DisplayUnit = "nats_per_token",
        min_redraw_s: float = 0.5,
        title: str = "training",
        display: DisplayFn = ipython_display,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_stop = on_stop
        self._display = display
        self._title = title
        self._lock = threading.RLock()
        self._throttle = Throttle(min_redraw_s, clock=clock)
        self._min_redraw_s = min_redraw_s
        self._clock = clock
        self._frame_end = -math.inf
        self._label_throttle = Throttle(min_redraw_s, clock=clock)
        self._history = CurveHistory()
        self._progress = ProgressTracker()
        self._plot = CurvePlot()
        self._unit: DisplayUnit = unit
        self._status = "waiting for the run to start"
        self._stopping = False
        self._final_status: str | None = None
        self._dirty = True
        self._png: bytes | None = None
        self._final_table: str | None = None
        self._slots: tuple[str, str] | None = None
        self._redraws = 0

        self.title_label: _Text = ipywidgets.HTML(value="")
        self.bar: _Progress = ipywidgets.IntProgress(value=0, min=0, max=_BAR_STEPS)
        self.progress_label: _Text = ipywidgets.Label(value="")
        self.stop_button: _Button = ipywidgets.Button(
            description="Stop", button_style="danger", icon="stop", tooltip="stop the run"
        )
        self.status_label: _Text = ipywidgets.HTML(value="")
        self.unit_toggle: _Toggle = ipywidgets.ToggleButtons(
            options=[(unit_label(name), name) for name in DISPLAY_UNITS], value=unit
        )
        self.image: _Image = ipywidgets.Image(format="png", value=b"")
        self.widget: object = ipywidgets.VBox(
            [
                self.title_label,
                ipywidgets.HBox([self.bar, self.stop_button]),
                self.progress_label,
                self.status_label,
                self.unit_toggle,
                self.image,
            ]
        )
        self.stop_button.on_click(self._on_stop_click)
        self.unit_toggle.observe(self._on_unit, names="value")

    @property
    def unit(self) -> DisplayUnit:
        """The unit the charts are drawn in."""
        return self._unit

    @property
    def status(self) -> str:
        """The status line: waiting, running, stopping, completed, cancelled or failed."""
        with self._lock:
            if self._final_status is not None:
                return self._final_status
            return "stopping…" if self._stopping else self._status

    @property
    def redraws(self) -> int:
        """How many frames have been drawn so far."""
        return self._redraws

    @property
    def final_png(self) -> bytes | None:
        """The PNG of the final curves, once the run has ended."""
        return self._png if self._final_status is not None else None

    def emit(self, event: Event) -> None:
        """Record ``event``; redraw if the last redraw is at least ``min_redraw_s`` old."""
        with self._lock:
            if event["type"] == "trainer.metrics.progress.v1":
                self._history.add_step(event["step"], event["loss"])
                self._progress.on_progress(event)
            elif event["type"] == "trainer.metrics.epoch.v1":
                self._history.add_epoch(event)
                self._progress.on_epoch(event)
            elif event["type"] == "trainer.metrics.eval.v1":
                self._history.add_eval(event)
            elif event["type"] == "trainer.metrics.config.v1":
                self._history.add_config(event)
                self._progress.on_config(event)
                self._status = "running"
            elif event["type"] == "trainer.job.started.v1":
                self._status = "running"
            elif event["type"] == "trainer.job.progress.v1":
                self._status = f"running: {event['message']} ({event['progress']}%)"
            elif event["type"] == "trainer.metrics.completed.v1":
                self._history.add_completed(event)
                self._finish("completed", "success")
                return
            elif event["type"] == "trainer.job.completed.v1":
                self._finish("completed", "success")
                return
            elif event["code"] == "TRAINING_CANCELLED":
                self._finish(f"cancelled: {event['message']}", "warning")
                return
            else:
                self._finish(f"failed: {event['code']}: {event['message']}", "danger")
                return
            self._dirty = True
            due = self._throttle.take()
            if not due and event["type"] == "trainer.metrics.epoch.v1":
                # Every epoch is drawn, even when slow frames stretched the interval.
                due = self._clock() - self._frame_end >= self._min_redraw_s
            if due:
                self._redraw()
            elif self._label_throttle.take():
                # Between chart frames the bar and labels still move: they cost microseconds.
                self._update_labels()

    def close(self) -> None:
        """Draw what is not drawn yet and disable the Stop button; safe to call twice."""
        with self._lock:
            if self._dirty:
                self._redraw()
            self.stop_button.disabled = True

    def show(self) -> None:
        """Display the panel here and redraw its whole history (e.g. after a reconnect).

        Once the run has ended, its final picture and table are shown instead.
        """
        with self._lock:
            if self._final_table is not None and self._png is not None:
                self._display(png_output(self._png))
                self._display(html_output(self._final_table))
                return
            # The end replaces the panel by the final picture, and fills the slot under it
            # with the table, in every place the panel is shown.
            if self._slots is None:
                self._slots = (uuid.uuid4().hex, uuid.uuid4().hex)
            panel_slot, table_slot = self._slots
            self._display(self.widget, display_id=panel_slot)
            self._display(html_output(""), display_id=table_slot)
            self._redraw()

    def set_unit(self, unit: DisplayUnit) -> None:
        """Draw the charts in ``unit`` from now on (redraws when it changes)."""
        self.unit_toggle.value = unit

    def _ipython_display_(self) -> None:
        self.show()

    def _on_unit(self, change: Mapping[str, object]) -> None:
        with self._lock:
            self._unit = _UNIT_BY_NAME[str(change["new"])]
            self._redraw()

    def _on_stop_click(self, _button: object) -> None:
        with self._lock:
            if self._stopping or self._final_status is not None:
                return
            self._stopping = True
            self.stop_button.disabled = True
            self.stop_button.description = "Stopping…"
            self._update_labels()
        self._on_stop()

    def _redraw(self) -> bytes:
        started = self._clock()
        png = self._plot.render(self._history.snapshot(), self._unit)
        self._png = png
        self.image.value = png
        self._update_labels()
        self._dirty = False
        self._redraws += 1
        # The interval runs from the end of a frame and grows with the frame's cost, so that
        # drawing takes at most 1 / (1 + DRAW_BUDGET) of the training thread however slow it is.
        cost = self._clock() - started
        self._throttle.min_interval_s = min(
            max(self._min_redraw_s, cost * DRAW_BUDGET), max(self._min_redraw_s, MAX_CHART_GAP_S)
        )
        self._throttle.mark()
        self._frame_end = self._clock()
        return png

    def _update_labels(self) -> None:
        config = self._history.config
        model = "" if config is None else f" {config['model_family']}/{config['model_size']}"
        self.title_label.value = f"<b>{html.escape(self._title + model)}</b>"
        snapshot = self._progress.snapshot()
        fraction = progress_fraction(snapshot)
        self.bar.value = 0 if fraction is None else round(fraction * _BAR_STEPS)
        self.progress_label.value = progress_text(snapshot)
        self.status_label.value = f"status: {html.escape(self.status)}"

    def _finish(self, status: str, bar_style: str) -> None:
        first = self._final_status is None
        self._final_status = status
        self.stop_button.disabled = True
        self.stop_button.description = "Stopped" if self._stopping else "Stop"
        self.bar.bar_style = bar_style
        if not first:
            self._update_labels()
            return
        if self._dirty or self._png is None:
            png = self._redraw()
        else:
            png = self._png
            self._update_labels()
        table = summary_html(summary_rows(self._history, unit=self._unit, status=status))
        self._final_table = table
        if self._slots is None:
            self._display(png_output(png))
            self._display(html_output(table))
        else:
            panel_slot, table_slot = self._slots
            self._display(png_output(png), display_id=panel_slot, update=True)
            self._display(html_output(table), display_id=table_slot, update=True)


def make_training_sink(
    on_stop: Callable[[], None],
    *,
    notebook: bool | None = None,
    unit: DisplayUnit = "nats_per_token",
    min_redraw_s: float = 0.5,
    stream: TextIO | None = None,
    display: DisplayFn = ipython_display,
) -> TrainingPanel | ConsoleSink:
    """The sink for a run's events: a shown ``TrainingPanel`` or a ``ConsoleSink``.

    ``notebook`` None asks ``in_notebook()``; the console sink writes to ``stream``
    (default: standard error) and has no Stop button (interrupt the kernel instead).
    """
    use_notebook = in_notebook() if notebook is None else notebook
    if use_notebook:
        panel = TrainingPanel(on_stop, unit=unit, min_redraw_s=min_redraw_s, display=display)
        panel.show()
        return panel
    return ConsoleSink(stream=stream, unit=unit, mininterval=min_redraw_s)

"""The live training panel: progress bar, Stop button, status line, charts, what it learned.

Under the loss and perplexity charts, a run that watches itself learn shows its newest
sample (the prompt set apart) and probe heatmap, drawn by the render thread like the charts.

``TrainingPanel`` is an event sink. ``emit`` runs on the training thread and only records:
it appends the event's figures under a short lock and wakes the panel's render thread,
which draws the latest state into the widgets (frames in between are never drawn): at
least ``min_redraw_s`` after the end of the last frame, later when frames are slow (about
2% of the time goes to drawing), at most ``MAX_CHART_GAP_S`` apart, every epoch, and the
final picture, fitted to the whole run, at the end. The training thread never waits for a
frame. The charts are one ``ipywidgets.Image`` updated in place: no ``clear_output``, no
output per step. When the run ends, the panel's output is replaced by a static PNG of the
final curves, and an HTML table of the final metrics fills the output reserved under it:
ordinary outputs, so a saved, reopened or converted notebook shows them and holds no widget
that would need the widget state to display.
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
from model_trainer.core.events.trainer_metrics_events import TrainerProbeV1, TrainerSampleV1
from model_trainer.notebook.console import ConsoleSink
from model_trainer.notebook.frontend import (
    DisplayFn,
    html_output,
    in_notebook,
    ipython_display,
    png_output,
)
from model_trainer.notebook.learning_view import learning_html
from model_trainer.notebook.live_plot import CurveHistory, CurvePlot, summary_html, summary_rows
from model_trainer.notebook.progress import ProgressTracker, progress_fraction, progress_text
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
"""Training time per unit of drawing time: frames cost about 1% of training. A frame draws
only the lines (about 8 ms on one CPU core), so the charts follow training about every
second; a slower frame (a busy machine, new axes) waits longer, up to ``MAX_CHART_GAP_S``:
frames up to 40 ms stay within 2%. An epoch's end asks for a frame sooner, which the panel
draws once the drawing since its first frame (which sets the figure up), that frame counted,
is within the same budget of the time since (else at the next frame's time)."""

MAX_CHART_GAP_S = 2.0
"""The charts are redrawn at least this often, however slow a frame was."""


class TrainingPanel:
    """Live view of one training run, fed by its events; ``on_stop`` is the job's cancel.

    Args:
        on_stop: called (once) when the Stop button is clicked.
        unit: the loss unit to draw: ``nats_per_token`` or ``bits_per_char``.
        min_redraw_s: the shortest wall-clock time from the end of one frame to the next.
        title: shown above the bar, followed by the model once the config event is in.
        display: IPython's ``display`` (or any function with its signature).
        clock: the wall clock the throttle reads.
        background: draw on a render thread of the panel's own; when False, frames are
            drawn only by ``flush`` (a loop of the caller's, or a test, calls it).
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
        background: bool = True,
    ) -> None:
        self._on_stop = on_stop
        self._display = display
        self._title = title
        self._background = background
        # _lock guards the recorded state and is held briefly; _draw_lock serializes frames
        # (the figure is drawn by one thread at a time) and is never taken by ``emit``.
        self._lock = threading.Lock()
        self._draw_lock = threading.RLock()
        self._wake = threading.Event()
        self._rendering = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._min_redraw_s = min_redraw_s
        self._interval_s = min_redraw_s
        self._clock = clock
        self._frame_end = -math.inf
        self._frame_s = 0.0
        # The budget's ledger: drawing since the end of the first frame (which sets the
        # figure up, once), and when that was.
        self._ledger_s = 0.0
        self._ledger_from = math.inf
        self._labels_at = -math.inf
        self._history = CurveHistory()
        self._progress = ProgressTracker()
        self._plot = CurvePlot()
        self._unit: DisplayUnit = unit
        self._status = "waiting for the run to start"
        self._stopping = False
        self._final_status: str | None = None
        self._bar_style = ""
        self._final_shown = False
        self._dirty = True
        self._epoch_pending = False
        self._labels_dirty = True
        self._png: bytes | None = None
        self._final_table: str | None = None
        self._slots: tuple[str, str] | None = None
        self._redraws = 0
        self._drawing_s = 0.0
        self._sample: TrainerSampleV1 | None = None
        self._probe: TrainerProbeV1 | None = None
        self._learned_dirty = False

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
        self.learned: _Text = ipywidgets.HTML(value="")
        self.widget: object = ipywidgets.VBox(
            [
                self.title_label,
                ipywidgets.HBox([self.bar, self.stop_button]),
                self.progress_label,
                self.status_label,
                self.unit_toggle,
                self.image,
                self.learned,
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
            return self._status_text()

    @property
    def redraws(self) -> int:
        """How many frames have been drawn so far."""
        return self._redraws

    @property
    def drawing_s(self) -> float:
        """Seconds spent drawing chart frames so far (the cost ``DRAW_BUDGET`` holds down)."""
        return self._drawing_s

    @property
    def final_png(self) -> bytes | None:
        """The PNG of the final curves, once the run's end has been drawn."""
        return self._png if self._final_shown else None

    def emit(self, event: Event) -> None:
        """Record ``event`` and wake the render thread; never draws, never waits for a frame."""
        with self._lock:
            wake = self._record(event)
            self._labels_dirty = True
            start = self._background and not self._rendering and not self._closed
            if start:
                self._rendering = True
        if start:
            self._thread = threading.Thread(
                target=self._render_loop, name="model-trainer-panel", daemon=True
            )
            self._thread.start()
        elif wake:
            self._wake.set()

    def flush(self) -> None:
        """Draw now, on this thread, what the throttling rules say is due.

        The render thread does this each time it wakes; without one, a caller's loop does.
        """
        self._tick()

    def close(self) -> None:
        """Stop the render thread, draw what is not drawn yet, disable the Stop button.

        When the run has ended, what is not drawn yet may be its final picture and table.
        Safe to call twice.
        """
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
        with self._draw_lock:
            with self._lock:
                ended = self._final_status is not None
            if ended and not self._final_shown:
                self._finish()
            elif self._dirty:
                self._redraw()
            elif self._labels_dirty:
                self._update_labels()
            self.stop_button.disabled = True

    def show(self) -> None:
        """Display the panel here and redraw its whole history (e.g. after a reconnect).

        Once the run has ended, its final picture and table are shown instead.
        """
        with self._draw_lock:
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
        with self._draw_lock:
            self._unit = _UNIT_BY_NAME[str(change["new"])]
            self._redraw()

    def _on_stop_click(self, _button: object) -> None:
        with self._draw_lock:
            with self._lock:
                if self._stopping or self._final_status is not None:
                    return
                self._stopping = True
            self.stop_button.disabled = True
            self.stop_button.description = "Stopping…"
            self._update_labels()
        self._on_stop()

    def _status_text(self) -> str:
        if self._final_status is not None:
            return self._final_status
        return "stopping…" if self._stopping else self._status

    def _record(self, event: Event) -> bool:
        """Take ``event`` into the panel's state (lock held); True when a frame is wanted."""
        if event["type"] == "trainer.metrics.progress.v1":
            self._history.add_step(event["step"], event["loss"])
            self._progress.on_progress(event)
        elif event["type"] == "trainer.metrics.epoch.v1":
            self._history.add_epoch(event)
            self._progress.on_epoch(event)
            self._epoch_pending = True
        elif event["type"] == "trainer.metrics.eval.v1":
            self._history.add_eval(event)
        elif event["type"] == "trainer.metrics.config.v1":
            self._history.add_config(event)
            self._progress.on_config(event)
            self._status = "running"
        elif event["type"] == "trainer.metrics.sample.v1":
            self._sample, self._learned_dirty = event, True
        elif event["type"] == "trainer.metrics.probe.v1":
            self._probe, self._learned_dirty = event, True
        elif event["type"] == "trainer.job.started.v1":
            self._status = "running"
        elif event["type"] == "trainer.job.progress.v1":
            self._status = f"running: {event['message']} ({event['progress']}%)"
        elif event["type"] == "trainer.metrics.completed.v1":
            self._history.add_completed(event)
            self._end("completed", "success")
        elif event["type"] == "trainer.job.completed.v1":
            self._end("completed", "success")
        elif event["code"] == "TRAINING_CANCELLED":
            self._end(f"cancelled: {event['message']}", "warning")
        else:
            self._end(f"failed: {event['code']}: {event['message']}", "danger")
        wanted = not self._dirty or self._epoch_pending or self._final_status is not None
        if self._final_status is None:
            self._dirty = True
        return wanted

    def _end(self, status: str, bar_style: str) -> None:
        self._final_status = status
        self._bar_style = bar_style

    def _render_loop(self) -> None:
        while True:
            wait_s = self._tick()
            with self._lock:
                idle = self._final_shown and not self._labels_dirty
                if self._closed or idle:
                    self._rendering = False
                    return
            self._wake.wait(wait_s)
            self._wake.clear()

    def _tick(self) -> float | None:
        """Draw what is due; returns the seconds until more may be (None: nothing pending)."""
        with self._draw_lock:
            with self._lock:
                now = self._clock()
                ended = self._final_status is not None
                chart_at = self._frame_end + self._interval_s
                if self._epoch_pending:
                    # Sooner for an epoch's end, when the drawing budget has room for it.
                    budget_at = self._ledger_from + (self._ledger_s + self._frame_s) * DRAW_BUDGET
                    soonest = max(self._frame_end + self._min_redraw_s, budget_at)
                    chart_at = min(chart_at, soonest)
                labels_at = self._labels_at + self._min_redraw_s
            if ended and not self._final_shown:
                self._finish()
                return 0.0
            if ended:
                if self._labels_dirty:
                    self._update_labels()
                return None
            if self._dirty and now >= chart_at:
                self._redraw()
                return self._min_redraw_s
            if self._labels_dirty and now >= labels_at:
                # Between chart frames the bar and labels still move: they cost microseconds.
                self._update_labels()
            if not self._dirty:
                return None
            return max(min(chart_at, labels_at) - now, 0.0)

    def _redraw(self, *, tight: bool = False) -> bytes:
        """Draw a frame of the recorded curves (draw lock held); ``tight``: see ``render``."""
        started = self._clock()
        with self._lock:
            data = self._history.snapshot()
            self._dirty = False
            self._epoch_pending = False
        png = self._plot.render(data, self._unit, tight=tight)
        self._png = png
        self.image.value = png
        self._update_labels()
        self._redraws += 1
        # The interval runs from the end of a frame and grows with the frame's cost, so that
        # drawing takes at most 1 / (1 + DRAW_BUDGET) of the time up to MAX_CHART_GAP_S.
        cost = self._clock() - started
        self._drawing_s += cost
        self._frame_s = cost
        if self._redraws > 1:
            self._ledger_s += cost
        self._interval_s = min(
            max(self._min_redraw_s, cost * DRAW_BUDGET), max(self._min_redraw_s, MAX_CHART_GAP_S)
        )
        self._frame_end = self._clock()
        self._ledger_from = min(self._ledger_from, self._frame_end)
        return png

    def _update_labels(self) -> None:
        """Set the title, bar and labels from the recorded state (draw lock held)."""
        with self._lock:
            config = self._history.config
            snapshot = self._progress.snapshot()
            status = self._status_text()
            self._labels_dirty = False
            self._labels_at = self._clock()
            learned = self._learned_dirty
            self._learned_dirty = False
            sample, probe = self._sample, self._probe
        if learned:
            self.learned.value = learning_html(sample, probe)
        model = "" if config is None else f" {config['model_family']}/{config['model_size']}"
        self.title_label.value = f"<b>{html.escape(self._title + model)}</b>"
        fraction = progress_fraction(snapshot)
        self.bar.value = 0 if fraction is None else round(fraction * _BAR_STEPS)
        self.progress_label.value = progress_text(snapshot)
        self.status_label.value = f"status: {html.escape(status)}"

    def _finish(self) -> None:
        """Show the run's end: the final picture in the panel's place, the table under it."""
        with self._lock:
            dirty = self._dirty
            stopping = self._stopping
            status = self._status_text()
        self.stop_button.disabled = True
        self.stop_button.description = "Stopped" if stopping else "Stop"
        self.bar.bar_style = self._bar_style
        png = self._png
        # The live frames leave room for the curves to grow; the final one fits them.
        if dirty or png is None or not self._plot.tight:
            png = self._redraw(tight=True)
        else:
            self._update_labels()
        with self._lock:
            table = summary_html(summary_rows(self._history, unit=self._unit, status=status))
            table += learning_html(self._sample, self._probe)
        self._final_table = table
        self._final_shown = True
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

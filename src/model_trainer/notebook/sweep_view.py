"""The live view of a sweep: trials' curves, a table sorted by their best value, and Stop.

Every trial's validation curve is drawn in bits per character on one chart, with a table
of the trials sorted by their best value and the trials running now marked (several run at
once when the sweep has several slots, e.g. one per GPU).

``SweepBoard`` is an event sink fed by the sweep's job (which forwards every trial's
events, from each trial's thread): ``emit`` only records, under a short lock, and wakes the
view's render thread, so nothing is drawn on a training thread. In a notebook ``SweepPanel``
shows the board in widgets updated in place and, when the sweep ends, replaces them by its
final chart and table as plain outputs (a saved, reopened notebook shows them without the
widget state); elsewhere ``SweepConsole`` prints one line per finished trial.
"""

from __future__ import annotations

import html
import math
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Final, Protocol, TextIO, TypedDict

import ipywidgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from model_trainer.core.contracts.model import LossUnit
from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.drawing import render_png
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import (
    JobFailedV1,
    is_completed,
    is_failed,
    is_job_progress,
)
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch
from model_trainer.notebook.frontend import DisplayFn, html_output, ipython_display, png_output

PENDING: Final = "running"


class TrialRow(TypedDict):
    """One trial as the view shows it."""

    run_id: str
    params: str
    state: str
    epochs: list[int]
    bits_per_char: list[float]
    best: float | None


class SweepSnapshot(TypedDict):
    """What the view shows at one moment."""

    sweep_id: str
    running: list[str]
    trials: list[TrialRow]
    state: str


class SweepBoard:
    """The sweep's state as its events tell it; ``emit`` records, ``snapshot`` reads."""

    def __init__(self, sweep_id: str) -> None:
        self._lock = threading.Lock()
        self.sweep_id = sweep_id
        self._rows: dict[str, TrialRow] = {}
        self._units: dict[str, tuple[LossUnit, float]] = {}
        self._running: list[str] = []
        self._state = "running"
        self.changed = threading.Event()
        self.ended: list[TrialRow] = []

    def emit(self, event: Event) -> None:
        """Record one event of the sweep or of one of its trials."""
        self.record(event)

    def record(self, event: Event) -> list[TrialRow]:
        """Record one event; returns the trials it ended (safe from several threads)."""
        with self._lock:
            before = len(self.ended)
            self._record(event)
            ended = self.ended[before:]
        self.changed.set()
        return ended

    def close(self) -> None:
        """Nothing to release; the view draws its last frame on the sweep's end event."""

    def _record(self, event: Event) -> None:
        job = event["job_id"]
        if job == self.sweep_id:
            if is_job_progress(event):
                payload = event.get("payload", {})
                run_id = str(payload.get("run_id", ""))
                params = payload.get("params", {})
                device = payload.get("device")
                text = (
                    ", ".join(f"{k}={v}" for k, v in params.items())
                    if isinstance(params, dict)
                    else str(params)
                )
                self._rows[run_id] = {
                    "run_id": run_id,
                    "params": text,
                    "state": PENDING if device is None else f"{PENDING} on {device}",
                    "epochs": [],
                    "bits_per_char": [],
                    "best": None,
                }
                self._running = [*self._running, run_id]
            elif is_completed(event) or is_failed(event):
                self._state = "stopped" if is_failed(event) else "completed"
                self._running = []
            return
        row = self._rows.get(job)
        if row is None:
            return
        if is_config(event):
            self._units[job] = (event.get("loss_unit", "token"), event.get("chars_per_token", 1.0))
        elif is_epoch(event) and event["val_loss"] is not None:
            unit, chars = self._units.get(job, ("token", 1.0))
            value = bits_per_char(event["val_loss"], unit, chars)
            kept = [i for i, e in enumerate(row["epochs"]) if e < event["epoch"]]
            row["epochs"] = [row["epochs"][i] for i in kept] + [event["epoch"]]
            row["bits_per_char"] = [row["bits_per_char"][i] for i in kept] + [value]
            row["best"] = min(row["bits_per_char"])
        elif is_completed(event) or is_failed(event):
            row["state"] = _failed_state(event) if is_failed(event) else "completed"
            self.ended.append({**row})
            self._running = [run_id for run_id in self._running if run_id != job]

    def snapshot(self) -> SweepSnapshot:
        """The trials sorted by their best value (trials without one last)."""
        with self._lock:
            trials: list[TrialRow] = [
                {
                    "run_id": row["run_id"],
                    "params": row["params"],
                    "state": row["state"],
                    "epochs": list(row["epochs"]),
                    "bits_per_char": list(row["bits_per_char"]),
                    "best": row["best"],
                }
                for row in self._rows.values()
            ]
            running, state = list(self._running), self._state
        trials.sort(key=lambda row: math.inf if row["best"] is None else row["best"])
        return {"sweep_id": self.sweep_id, "running": running, "trials": trials, "state": state}


def _failed_state(event: JobFailedV1) -> str:
    code = event["code"]
    return "stopped" if code == "TRAINING_CANCELLED" else f"failed ({code})"


def sweep_png(snapshot: SweepSnapshot) -> bytes:
    """Every trial's validation bits per character against the epoch, on one chart."""
    figure = Figure(figsize=(8.0, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for row in snapshot["trials"]:
        width = 2.5 if row["run_id"] in snapshot["running"] else 1.2
        axes.plot(row["epochs"], row["bits_per_char"], "o-", linewidth=width, label=row["params"])
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation bits per character")
    axes.set_title(f"sweep {snapshot['sweep_id']}")
    axes.grid(visible=True, alpha=0.3)
    if snapshot["trials"]:
        axes.legend(loc="best", fontsize="small")
    return render_png(figure, tight=True)


def sweep_table_html(snapshot: SweepSnapshot) -> str:
    """The trials as an HTML table, best first; the running trials in bold."""
    lines = [
        "<table><tr><th>#</th><th>run</th><th>values</th><th>state</th>"
        "<th>best val bits/char</th></tr>"
    ]
    for rank, row in enumerate(snapshot["trials"], start=1):
        best = "-" if row["best"] is None else f"{row['best']:.4f}"
        cells = (str(rank), row["run_id"], row["params"], row["state"], best)
        text = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        style = ' style="font-weight:bold"' if row["run_id"] in snapshot["running"] else ""
        lines.append(f"<tr{style}>{text}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


class _Button(Protocol):
    description: str
    disabled: bool

    def on_click(self, callback: Callable[[object], None]) -> None: ...

    def click(self) -> None: ...


class _Value(Protocol):
    value: str


class _Image(Protocol):
    value: bytes


class SweepPanel:
    """The sweep's live view in a notebook: status, Stop, chart and table, drawn off-thread.

    When the sweep ends, the final chart and table replace the widgets where they are shown.
    ``background`` False draws only on ``flush`` (tests).
    """

    def __init__(
        self,
        sweep_id: str,
        on_stop: Callable[[], None],
        *,
        display: DisplayFn = ipython_display,
        background: bool = True,
    ) -> None:
        self.board = SweepBoard(sweep_id)
        self._display = display
        self.status: _Value = ipywidgets.HTML(value="")
        self.stop_button: _Button = ipywidgets.Button(description="Stop sweep")
        self.image: _Image = ipywidgets.Image(format="png", value=b"")
        self.table: _Value = ipywidgets.HTML(value="")
        self.widget: object = ipywidgets.VBox(
            [ipywidgets.HBox([self.status, self.stop_button]), self.image, self.table]
        )

        def stop(_: object) -> None:
            self.stop_button.disabled = True
            self.stop_button.description = "Stopping..."
            on_stop()

        self.stop_button.on_click(stop)
        self._done = threading.Event()
        # Frames and showing take turns: the end replaces what ``show`` put up.
        self._draw_lock = threading.Lock()
        self._slots: tuple[str, str] | None = None
        self.final: tuple[bytes, str] | None = None
        """The final chart (PNG) and the HTML of its status and table, once the sweep ended."""
        if background:
            threading.Thread(target=self._render_loop, daemon=True).start()

    def emit(self, event: Event) -> None:
        """Record one event; the render thread draws it."""
        self.board.emit(event)

    def close(self) -> None:
        """Nothing to release here."""

    def show(self) -> None:
        """Show the panel (again); once the sweep has ended, its final chart and table."""
        with self._draw_lock:
            if self.final is not None:
                png, page = self.final
                self._display(png_output(png))
                self._display(html_output(page))
                return
            # The end puts the final chart in the widget's place and the table in the output
            # reserved under it, wherever the panel is shown (outputs of a render thread
            # reach a cell only through a display id).
            if self._slots is None:
                self._slots = (uuid.uuid4().hex, uuid.uuid4().hex)
            panel_slot, table_slot = self._slots
            self._display(self.widget, display_id=panel_slot)
            self._display(html_output(""), display_id=table_slot)

    def flush(self) -> SweepSnapshot:
        """Draw the board as it is now; returns what was drawn."""
        with self._draw_lock:
            snapshot = self.board.snapshot()
            running = ", ".join(snapshot["running"]) or "-"
            status = f"sweep {snapshot['sweep_id']}: {snapshot['state']}, running: {running}"
            self.status.value = html.escape(status)
            png = sweep_png(snapshot)
            table = sweep_table_html(snapshot)
            self.image.value = png
            self.table.value = table
            if snapshot["state"] != "running":
                self.stop_button.disabled = True
                if self.final is None:
                    self._finish(png, f"<p>{html.escape(status)}</p>\n{table}")
        return snapshot

    def _finish(self, png: bytes, page: str) -> None:
        """Keep the final chart and table, and show them where the panel is (lock held)."""
        self.final = (png, page)
        if self._slots is None:
            self._display(png_output(png))
            self._display(html_output(page))
            return
        panel_slot, table_slot = self._slots
        self._display(png_output(png), display_id=panel_slot, update=True)
        self._display(html_output(page), display_id=table_slot, update=True)

    def _render_loop(self) -> None:
        while True:
            self.board.changed.wait()
            self.board.changed.clear()
            snapshot = self.flush()
            if snapshot["state"] != "running":
                return
            self._done.wait(0.5)


class SweepConsole:
    """The sweep's view without a notebook: a line per finished trial, on ``stream``."""

    def __init__(self, sweep_id: str, stream: TextIO | None = None) -> None:
        self.board = SweepBoard(sweep_id)
        self._stream = stream

    def emit(self, event: Event) -> None:
        """Record one event; print each trial as it ends."""
        for row in self.board.record(event):
            best = "-" if row["best"] is None else f"{row['best']:.4f}"
            print(
                f"trial {row['run_id']} ({row['params']}): {row['state']}, "
                f"best val {best} bits/char",
                file=self._stream or sys.stderr,
            )

    def close(self) -> None:
        """Nothing to release here."""

    def show(self) -> None:
        """Print the table of trials as it is now."""
        for row in self.board.snapshot()["trials"]:
            best = "-" if row["best"] is None else f"{row['best']:.4f}"
            print(f"{row['run_id']:<30} {row['state']:<10} {best}", file=self._stream or sys.stderr)


def make_sweep_view(
    on_stop: Callable[[], None],
    sweep_id: str,
    *,
    notebook: bool,
    display: DisplayFn = ipython_display,
    stream: TextIO | None = None,
) -> SweepPanel | SweepConsole:
    """The view of a sweep: a shown ``SweepPanel`` in a notebook, else a ``SweepConsole``."""
    if not notebook:
        return SweepConsole(sweep_id, stream=stream)
    panel = SweepPanel(sweep_id, on_stop, display=display)
    panel.show()
    return panel

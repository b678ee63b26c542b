"""The live view of a corpus scoring: documents and characters done, rate, time left, bits.

It reads the scoring job's ``trainer.job.progress.v1`` events (their payload); in a notebook
a bar with a Stop button and a status line, elsewhere a text bar on standard error.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Protocol, TextIO

import ipywidgets
import tqdm

from model_trainer.core.events.codec import Event
from model_trainer.notebook.frontend import DisplayFn, ipython_display
from model_trainer.notebook.progress import format_duration


class ScoringStatus:
    """The figures of a scoring so far, from its progress events, and their line of text."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start: tuple[float, int] | None = None
        self.documents = 0
        self.total = 0
        self.chars = 0
        self.bits: dict[str, float | None] = {}
        self.end: str | None = None

    def update(self, event: Event) -> bool:
        """Take ``event``; True when it changed what is shown."""
        if event["type"] == "trainer.job.failed.v1":
            what = "stopped" if event["code"] == "TRAINING_CANCELLED" else "failed"
            self.end = f"{what}: {event['message']}"
            return True
        if event["type"] == "trainer.job.completed.v1":
            self.end = "completed"
            return True
        if event["type"] != "trainer.job.progress.v1":
            return False
        payload: Mapping[str, object] = event.get("payload", {})
        documents, total, chars = (
            payload.get("documents"),
            payload.get("total_documents"),
            payload.get("chars"),
        )
        bits = payload.get("bits_per_char")
        if not isinstance(documents, int) or not isinstance(total, int):
            return False
        if self._start is None:
            self._start = (self._clock(), documents)
        self.documents, self.total = documents, total
        self.chars = chars if isinstance(chars, int) else 0
        if isinstance(bits, Mapping):
            self.bits = {
                str(name): value if isinstance(value, float) else None
                for name, value in bits.items()
            }
        return True

    def rate(self) -> float:
        """Documents per second since the first progress event."""
        if self._start is None:
            return 0.0
        elapsed = self._clock() - self._start[0]
        return (self.documents - self._start[1]) / elapsed if elapsed > 0 else 0.0

    def text(self) -> str:
        """One line: documents, characters, rate, time left, bits per character per model."""
        rate = self.rate()
        left = (self.total - self.documents) / rate if rate > 0 else None
        models = " · ".join(
            f"{name} {'-' if bpc is None else f'{bpc:.3f}'}" for name, bpc in self.bits.items()
        )
        line = (
            f"{self.documents:,}/{self.total:,} documents · {self.chars:,} chars · "
            f"{rate:,.1f} docs/s · {format_duration(left)} left · bits/char: {models}"
        )
        return line if self.end is None else f"{line} · {self.end}"


class _Button(Protocol):
    disabled: bool

    def on_click(self, callback: Callable[[object], None]) -> None: ...

    def click(self) -> None: ...


class _Bar(Protocol):
    value: int
    max: int


class _Label(Protocol):
    value: str


class _TextBar(Protocol):
    n: int

    def update(self, n: int) -> object: ...

    def set_postfix_str(self, s: str, refresh: bool) -> None: ...

    def close(self) -> None: ...


class ScoringPanel:
    """A notebook's view of a scoring: a bar, a Stop button and a status line."""

    def __init__(self, on_stop: Callable[[], None], *, display: DisplayFn = ipython_display):
        self._status = ScoringStatus()
        self._display = display
        self.bar: _Bar = ipywidgets.IntProgress(value=0, min=0, max=1)
        self.label: _Label = ipywidgets.Label(value="reading the corpus")
        self.stop_button: _Button = ipywidgets.Button(description="Stop", button_style="danger")
        self.widget: object = ipywidgets.VBox(
            [ipywidgets.HBox([self.bar, self.stop_button]), self.label]
        )
        self.stop_button.on_click(lambda _button: on_stop())

    def emit(self, event: Event) -> None:
        """Show what ``event`` changed."""
        if not self._status.update(event):
            return
        self.bar.max = max(self._status.total, 1)
        self.bar.value = self._status.documents
        self.label.value = self._status.text()
        self.stop_button.disabled = self._status.end is not None

    def show(self) -> None:
        """Display the panel (again)."""
        self._display(self.widget)

    def close(self) -> None:
        """Nothing to release: the panel stays as it was last drawn."""


class ScoringConsole:
    """A text bar of a scoring on ``stream`` (default: standard error)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._status = ScoringStatus()
        self._bar: _TextBar | None = None

    def emit(self, event: Event) -> None:
        """Advance the bar; print the end."""
        if not self._status.update(event):
            return
        bar = self._bar
        if bar is None:
            bar = tqdm.tqdm(total=self._status.total, file=self._stream, desc="scoring", unit="doc")
            self._bar = bar
        bar.set_postfix_str(self._status.text().split(" · ", 3)[-1], refresh=False)
        bar.update(self._status.documents - bar.n)
        if self._status.end is not None:
            bar.close()
            self._stream.write(self._status.text() + "\n")

    def show(self) -> None:
        """Print the line of the scoring as it is now."""
        self._stream.write(self._status.text() + "\n")

    def close(self) -> None:
        """Close the bar if one is open."""
        if self._bar is not None:
            self._bar.close()


def make_scoring_view(
    on_stop: Callable[[], None], *, notebook: bool, display: DisplayFn = ipython_display
) -> ScoringPanel | ScoringConsole:
    """The scoring's view: a shown ``ScoringPanel`` in a notebook, else a ``ScoringConsole``."""
    if notebook:
        panel = ScoringPanel(on_stop, display=display)
        panel.show()
        return panel
    return ScoringConsole()

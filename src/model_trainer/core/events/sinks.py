"""Where events go: a callback, a list, a JSON-lines file, or several of these at once.

Sinks run on the training thread, so each ``emit`` is cheap: no redraws, no network.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, Self, TextIO

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, encode_event
from model_trainer.core.faults import writing

_CHUNK: Final = 1 << 16


class EventSink(Protocol):
    """Receives events in the order they happen; ``close`` releases what it holds."""

    def emit(self, event: Event) -> None:
        """Take one event; called on the training thread, so keep it cheap."""

    def close(self) -> None:
        """Release files or handles; calling it twice does no harm."""


class CallbackSink:
    """Hands every event to a function."""

    def __init__(self, fn: Callable[[Event], None]) -> None:
        self._fn = fn

    def emit(self, event: Event) -> None:
        """Call the function with the event."""
        self._fn(event)

    def close(self) -> None:
        """Nothing to release."""


class ListSink:
    """Keeps every event in ``events``, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        """Append the event."""
        self.events.append(event)

    def close(self) -> None:
        """Nothing to release; the events stay."""


class JsonlFileSink:
    """Appends each event as one JSON line to a file, flushed per event; safe across threads.

    The file (and its parent folders) is created at construction; a torn last line (a write
    cut short by a crash) is cut first (``cut_torn_line``), so new lines start on their own.

    Raises:
        ModelTrainerError: ``ARTIFACT_UPLOAD_FAILED`` when the file cannot be opened, written
            or closed, or an event arrives after ``close``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with writing(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut_torn_line(self.path)
            self._file: TextIO | None = self.path.open("a", encoding="utf-8", newline="\n")

    def emit(self, event: Event) -> None:
        """Write the event as one line and flush it."""
        line = encode_event(event) + "\n"
        with self._lock:
            if self._file is None:
                raise ModelTrainerError(
                    "ARTIFACT_UPLOAD_FAILED",
                    f"event file {self.path} is closed; cannot write {event['type']}",
                )
            with writing(self.path):
                self._file.write(line)
                self._file.flush()

    def close(self) -> None:
        """Close the file; later calls do nothing."""
        with self._lock:
            file, self._file = self._file, None
            if file is None:
                return
            with writing(self.path):
                file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def cut_torn_line(path: Path) -> int:
    """Cut the file's last line if it has no newline (a torn write); return the size kept.

    A JSON-lines file written by ``JsonlFileSink`` ends each event with a newline, so bytes
    after the last newline are the head of an event whose write never finished. A missing
    file keeps 0 bytes.

    Raises:
        OSError: the file cannot be read or truncated.
    """
    if not path.is_file():
        return 0
    with path.open("r+b") as file:
        size = file.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - _CHUNK)
            file.seek(start)
            newline = file.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            file.truncate(end)
        return end


class FanoutSink:
    """Passes every event to each of its sinks, in order."""

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks: tuple[EventSink, ...] = tuple(sinks)

    def emit(self, event: Event) -> None:
        """Emit the event to every sink."""
        for sink in self.sinks:
            sink.emit(event)

    def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            sink.close()

"""What the command line prints: a progress bar on stderr, outcomes as JSON on stdout."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import (
    Protocol,
    TextIO,
)

from tqdm import tqdm

from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import is_completed, is_failed
from model_trainer.core.events.trainer_metrics_events import (
    is_config,
    is_epoch,
    is_progress_metrics,
    is_sample,
)


class _Bar(Protocol):
    n: float

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...

    def refresh(self) -> None: ...

    def close(self) -> None: ...


class ConsoleProgress:
    """A tqdm bar on ``stream`` driven by a train job's metric events, with a line per epoch.

    Each sample is printed once as it arrives, its prompt in brackets.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._bar: _Bar | None = None
        self._chars_per_token = 1.0

    def __call__(self, event: Event) -> None:
        """Update the bar from one event."""
        if is_config(event):
            self._chars_per_token = event.get("chars_per_token", 1.0)
            steps = event.get("steps_per_epoch", 0)
            bar: _Bar = tqdm(
                total=steps * event["total_epochs"] or None,
                file=self.stream,
                desc=f"{event['model_family']} {event['model_size']}",
                unit="step",
                dynamic_ncols=True,
            )
            self._bar = bar
        elif self._bar is None:
            return
        elif is_progress_metrics(event):
            self._bar.n = event["step"]
            self._bar.set_postfix_str(
                f"epoch {event['epoch']}/{event['total_epochs']} loss {event['loss']:.3f} "
                f"{event['tokens_per_second']:,.0f} tok/s",
                refresh=True,
            )
        elif is_epoch(event):
            val = event["val_loss"]
            detail = (
                ""
                if val is None
                else f", validation {val:.4f} "
                f"({bits_per_char(val, event['loss_unit'], self._chars_per_token):.3f} bits/char)"
            )
            tqdm.write(
                f"epoch {event['epoch']}/{event['total_epochs']}: train loss "
                f"{event['train_loss']:.4f} nats/{event['loss_unit']}{detail}",
                file=self.stream,
            )
        elif is_sample(event):
            tqdm.write(
                f"sample at step {event['step']}: [{event['prompt']}]{event['text']}",
                file=self.stream,
            )
        elif is_completed(event) or is_failed(event):
            self._bar.close()
            self._bar = None


def json_ready(value: object) -> object:
    """``value`` with every NaN or infinity inside it replaced by None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [json_ready(item) for item in value]
    return value


JSON_CHUNK = 4096
"""Items of a long sequence encoded per write (a text's per-character scores)."""


def write_json(value: object, out: TextIO, depth: int = 0) -> None:
    """Write ``value`` to ``out`` as ``json.dumps(json_ready(value), indent=2)`` would.

    Mappings and sequences are written an item at a time, a long sequence read
    ``JSON_CHUNK`` items at a time, so the memory it takes does not grow with the length of
    a text's per-character scores.
    """
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, Mapping):
        if not value:
            out.write("{}")
            return
        for index, (key, item) in enumerate(value.items()):
            out.write(("," if index else "{") + inner + json.dumps(str(key)) + ": ")
            write_json(item, out, depth + 1)
        out.write("\n" + "  " * depth + "}")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            out.write("[]")
            return
        for first in range(0, len(value), JSON_CHUNK):
            for index, item in enumerate(value[first : first + JSON_CHUNK], start=first):
                out.write(("," if index else "[") + inner)
                write_json(item, out, depth + 1)
        out.write("\n" + "  " * depth + "]")
    else:
        out.write(json.dumps(json_ready(value), allow_nan=False))


def print_json(value: object) -> None:
    """Print ``value`` as indented JSON on standard output, written as it is encoded."""
    write_json(value, sys.stdout)
    sys.stdout.write("\n")

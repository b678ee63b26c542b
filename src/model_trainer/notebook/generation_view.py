"""Sampled continuations as HTML, each token shaded by its probability; a streaming view.

A token the model found likely stays clear; an unlikely one is shaded red, and hovering
shows its probability. ``StreamingGeneration`` takes the ``on_token`` callback of
``generate`` and redraws one display (updated in place by its id), at most once per
``min_redraw_s``; ``finish`` draws the final state.
"""

from __future__ import annotations

import html
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Final

from model_trainer.core.contracts.model import GenerateOutcome
from model_trainer.core.errors import ModelTrainerError
from model_trainer.notebook.frontend import DisplayFn, html_output, ipython_display
from model_trainer.notebook.progress import Throttle
from model_trainer.notebook.scoring_view import visible

_WRAP_STYLE: Final = "font-family:sans-serif;font-size:13px"
_BOX_STYLE: Final = (
    "font-family:monospace;white-space:pre-wrap;line-height:1.7;word-break:break-all;"
    "border:1px solid #ddd;padding:6px;margin:4px 0"
)
_PROMPT_STYLE: Final = "color:#777"
_LEGEND: Final = "shade: clear = likely token, red = unlikely; hover for its probability"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def prob_color(prob: float) -> str:
    """The background of a token sampled with probability ``prob``: clear at 1, red near 0."""
    alpha = 0.85 * (1.0 - min(max(prob, 0.0), 1.0))
    return f"rgba(215,48,39,{alpha:.2f})"


def _token(text: str, prob: float) -> str:
    shown = _esc(visible(text)) + ("<br>" if text.endswith("\n") else "")
    return f'<span style="background:{prob_color(prob)}" title="p = {prob:.4f}">{shown}</span>'


def _sequence(header: str, prompt: str | None, tokens: Sequence[tuple[str, float]]) -> str:
    lead = "" if prompt is None else f'<span style="{_PROMPT_STYLE}">{_esc(prompt)}</span>'
    body = "".join(_token(text, prob) for text, prob in tokens)
    return f'<div><b>{_esc(header)}</b><div style="{_BOX_STYLE}">{lead}{body}</div></div>'


def _mean(probs: Sequence[float]) -> str:
    return f"{sum(probs) / len(probs):.3f}" if probs else "-"


def generation_html(
    outcome: GenerateOutcome, *, prompt: str | None = None, title: str = "samples"
) -> str:
    """Every sampled sequence of ``outcome``, its tokens shaded by probability.

    ``prompt`` (optional) is shown in grey before each continuation.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when a sequence has not one probability per
            token.
    """
    parts: list[str] = []
    for index, sequence in enumerate(outcome["sequences"]):
        tokens, probs = sequence["tokens"], sequence["token_probs"]
        if len(tokens) != len(probs):
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"sequences[{index}] has {len(tokens)} tokens but {len(probs)} token_probs",
            )
        header = (
            f"#{index + 1} · stop: {sequence['stop_reason']} · {len(tokens)} tokens"
            f" · mean p {_mean(probs)}"
        )
        parts.append(_sequence(header, prompt, list(zip(tokens, probs, strict=True))))
    return (
        f'<div style="{_WRAP_STYLE}"><h4 style="margin:4px 0">{_esc(title)}</h4>'
        f"<div>{_esc(_LEGEND)}</div>{''.join(parts)}</div>"
    )


class StreamingGeneration:
    """Shows tokens as they are sampled, in one display updated in place.

    Pass ``stream.on_token`` as ``generate``'s ``on_token``. Call ``show()`` in the cell
    where the view belongs (when sampling runs on another thread, its output would otherwise
    land wherever that thread writes), and ``finish()`` at the end.

    Args:
        prompt: shown in grey before each sequence.
        min_redraw_s: the shortest wall-clock time between two redraws by ``on_token``.
        title: the heading of the view.
        display: IPython's ``display`` (or any function with its signature).
        clock: the wall clock the throttle reads.
    """

    def __init__(
        self,
        *,
        prompt: str | None = None,
        min_redraw_s: float = 0.25,
        title: str = "samples",
        display: DisplayFn = ipython_display,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prompt = prompt
        self._title = title
        self._display = display
        self._throttle = Throttle(min_redraw_s, clock=clock)
        self._lock = threading.Lock()
        self._tokens: dict[int, list[tuple[str, float]]] = {}
        self._display_id = uuid.uuid4().hex
        self._shown = False
        self._redraws = 0

    @property
    def redraws(self) -> int:
        """How many times the display has been drawn."""
        return self._redraws

    def show(self) -> None:
        """Display the view here (the tokens so far); later redraws update this output."""
        with self._lock:
            self._draw(self.html())

    def on_token(self, sequence_index: int, token_text: str, prob: float) -> None:
        """Record one sampled token; redraw if the last redraw is ``min_redraw_s`` old."""
        with self._lock:
            self._tokens.setdefault(sequence_index, []).append((token_text, prob))
            if self._throttle.take():
                self._draw(self.html())

    def finish(self, outcome: GenerateOutcome | None = None) -> None:
        """Draw the final state: ``outcome`` in full (stop reasons too) or the tokens seen."""
        with self._lock:
            self._draw(self.html() if outcome is None else self._final_html(outcome))

    def html(self) -> str:
        """The tokens seen so far, by sequence."""
        parts = [
            _sequence(
                f"#{index + 1} · {len(tokens)} tokens so far · mean p "
                f"{_mean([prob for _, prob in tokens])}",
                self._prompt,
                tokens,
            )
            for index, tokens in sorted(self._tokens.items())
        ]
        return (
            f'<div style="{_WRAP_STYLE}"><h4 style="margin:4px 0">{_esc(self._title)}</h4>'
            f"<div>{_esc(_LEGEND)}</div>{''.join(parts)}</div>"
        )

    def _final_html(self, outcome: GenerateOutcome) -> str:
        return generation_html(outcome, prompt=self._prompt, title=self._title)

    def _draw(self, text: str) -> None:
        self._display(html_output(text), display_id=self._display_id, update=self._shown)
        self._shown = True
        self._redraws += 1
        self._throttle.mark()

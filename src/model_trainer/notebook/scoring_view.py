"""Per-character surprisal as self-contained HTML: a heatmap, its scale, the worst spans.

Every character of a scored text is a span shaded by its surprisal in bits; hovering shows
its rank and the alternatives the model expected (the ``title`` attribute). ``compare_html``
puts two models' scores of the same text side by side and adds a difference view. The HTML
has inline styles only, no scripts and no external resources, and every text in it is
escaped, so a scored ``<script>`` shows as text and the page survives any notebook
conversion.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Final, TypedDict

from model_trainer.core.contracts.model import CharScore, ScoreOutcome
from model_trainer.core.errors import ModelTrainerError

_Rgb = tuple[float, float, float]

_WHITE: Final[_Rgb] = (255.0, 255.0, 255.0)
_HEAT: Final[tuple[_Rgb, ...]] = (_WHITE, (254.0, 224.0, 139.0), (215.0, 48.0, 39.0))
_DIVERGING: Final[tuple[_Rgb, ...]] = ((33.0, 102.0, 172.0), _WHITE, (215.0, 48.0, 39.0))
_TEXT_STYLE: Final = "font-family:monospace;white-space:pre-wrap;line-height:1.7;"
_BOX_STYLE: Final = _TEXT_STYLE + "border:1px solid #ddd;padding:6px;word-break:break-all"
_WRAP_STYLE: Final = "font-family:sans-serif;font-size:13px"
_MARK_STYLE: Final = "outline:2px solid #1f4e9c;outline-offset:1px"
# Control characters as their Unicode "control pictures"; newline and tab as arrows.
_SYMBOLS: Final[dict[int, str]] = {
    **{code: chr(0x2400 + code) for code in range(0x20)},
    0x7F: "\u2421",
    ord("\n"): "\u21b5",
    ord("\t"): "\u21e5",
}


class Span(TypedDict):
    """A word of the text (a run of non-space characters) and its surprisal."""

    start: int
    end: int
    text: str
    bits: float
    mean_bits: float


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _mix(stops: tuple[_Rgb, ...], t: float) -> _Rgb:
    """The colour at ``t`` in [0, 1] along evenly spaced ``stops``."""
    t = min(max(t, 0.0), 1.0)
    pos = t * (len(stops) - 1)
    index = min(int(pos), len(stops) - 2)
    frac = pos - index
    low, high = stops[index], stops[index + 1]
    return (
        low[0] + (high[0] - low[0]) * frac,
        low[1] + (high[1] - low[1]) * frac,
        low[2] + (high[2] - low[2]) * frac,
    )


def _css(rgb: _Rgb) -> str:
    return f"rgb({round(rgb[0])},{round(rgb[1])},{round(rgb[2])})"


def _text_color(rgb: _Rgb) -> str:
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return "#000" if luminance > 140.0 else "#fff"


def visible(text: str) -> str:
    """``text`` with newlines, tabs and other control characters shown as symbols."""
    return text.translate(_SYMBOLS)


def _cell(char: str, background: _Rgb, title: str) -> str:
    """One character's span; a newline also breaks the line after its symbol."""
    style = f"background:{_css(background)};color:{_text_color(background)}"
    tip = _esc(title).replace("\n", "&#10;")
    cell = f'<span style="{style}" title="{tip}">{_esc(visible(char))}</span>'
    return cell + "<br>" if char == "\n" else cell


def _char_title(score: CharScore) -> str:
    lines = [f"{visible(score['char'])!r} {score['surprisal_bits']:.2f} bits, rank {score['rank']}"]
    top = score.get("top_k", [])
    if top:
        expected = ", ".join(f"{visible(item['text'])!r} {item['prob']:.1%}" for item in top)
        lines.append(f"expected: {expected}")
    return "\n".join(lines)


def _scale_max(values: Sequence[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return float(max(1, math.ceil(max(finite, default=1.0))))


def _legend(stops: tuple[_Rgb, ...], low: str, high: str) -> str:
    gradient = ", ".join(_css(stop) for stop in stops)
    return (
        f'<div style="display:flex;align-items:center;gap:6px;margin:4px 0">'
        f"<span>{_esc(low)}</span>"
        f'<span style="display:inline-block;width:180px;height:10px;border:1px solid #ccc;'
        f'background:linear-gradient(to right, {gradient})"></span>'
        f"<span>{_esc(high)}</span></div>"
    )


def _summary(outcome: ScoreOutcome) -> str:
    return _esc(
        f"{outcome['bits_per_char']:.3f} bits/char · perplexity {outcome['perplexity']:.2f}"
        f" per token · {outcome['num_tokens']} tokens · {outcome['num_chars']} chars"
        f" · {outcome['num_unknown_chars']} unknown"
    )


def words(scores: Sequence[CharScore]) -> list[Span]:
    """The runs of non-space characters, with their total and mean surprisal."""
    spans: list[Span] = []
    start: int | None = None
    for index in range(len(scores) + 1):
        is_word = index < len(scores) and not scores[index]["char"].isspace()
        if is_word and start is None:
            start = index
        elif not is_word and start is not None:
            chunk = scores[start:index]
            bits = sum(score["surprisal_bits"] for score in chunk)
            spans.append(
                {
                    "start": start,
                    "end": index,
                    "text": "".join(score["char"] for score in chunk),
                    "bits": bits,
                    "mean_bits": bits / len(chunk),
                }
            )
            start = None
    return spans


def surprising_spans(scores: Sequence[CharScore], count: int = 5) -> list[Span]:
    """The ``count`` words that cost the most bits, most costly first (ties: earliest)."""
    return sorted(words(scores), key=lambda span: -span["bits"])[:count]


def _span_list(spans: list[Span]) -> str:
    if not spans:
        return "<p>no words to list</p>"
    items = "".join(
        f"<li><code>{_esc(visible(span['text']))}</code> {span['bits']:.1f} bits"
        f" ({span['mean_bits']:.2f} bits/char), chars {span['start']}-{span['end']}</li>"
        for span in spans
    )
    return f'<ol style="margin:4px 0">{items}</ol>'


def _heatmap(scores: Sequence[CharScore], vmax: float, mark: tuple[int, int] | None = None) -> str:
    """The characters' cells; those in ``mark`` (``[start, end)``) framed together."""
    cells = [
        _cell(score["char"], _mix(_HEAT, score["surprisal_bits"] / vmax), _char_title(score))
        for score in scores
    ]
    if mark is not None:
        start, end = mark
        cells[start:end] = [f'<span style="{_MARK_STYLE}">{"".join(cells[start:end])}</span>']
    return f'<div style="{_BOX_STYLE}">{"".join(cells)}</div>'


def heatmap_html(
    scores: Sequence[CharScore],
    *,
    vmax: float | None = None,
    mark: tuple[int, int] | None = None,
) -> str:
    """The heatmap of ``scores`` under its scale; the characters ``mark`` (``[start, end)``) framed.

    ``vmax`` is the surprisal (bits) drawn deepest red (default: the maximum, rounded up).
    """
    top = _scale_max([score["surprisal_bits"] for score in scores]) if vmax is None else vmax
    return f"{_legend(_HEAT, '0 bits', f'{top:g} bits or more')}{_heatmap(scores, top, mark)}"


def scale_max(scores: Sequence[CharScore]) -> float:
    """The surprisal drawn deepest red for ``scores``: their finite maximum, rounded up."""
    return _scale_max([score["surprisal_bits"] for score in scores])


def score_html(
    outcome: ScoreOutcome,
    *,
    title: str = "surprisal per character",
    vmax: float | None = None,
    num_spans: int = 5,
) -> str:
    """A heatmap of the per-character surprisal of ``outcome``, with its scale and worst words.

    ``vmax`` is the surprisal (bits) drawn deepest red (default: the text's maximum, rounded
    up). An outcome scored with ``detail_level="summary"`` shows its summary and a note.
    """
    head = f'<h4 style="margin:4px 0">{_esc(title)}</h4><div>{_summary(outcome)}</div>'
    scores = outcome.get("per_char")
    if scores is None:
        note = "no per-character scores: score with detail_level='per_char' to see the heatmap"
        return f'<div style="{_WRAP_STYLE}">{head}<p>{_esc(note)}</p></div>'
    top = _scale_max([score["surprisal_bits"] for score in scores]) if vmax is None else vmax
    return (
        f'<div style="{_WRAP_STYLE}">{head}'
        f"{_legend(_HEAT, '0 bits', f'{top:g} bits or more')}"
        f"{_heatmap(scores, top)}"
        f'<div style="margin-top:6px">most surprising words:</div>'
        f"{_span_list(surprising_spans(scores, num_spans))}</div>"
    )


def _per_char(outcome: ScoreOutcome, label: str) -> Sequence[CharScore]:
    scores = outcome.get("per_char")
    if scores is None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"per_char of {label!r} is missing: score with detail_level='per_char'",
        )
    return scores


def _same_text(
    a: ScoreOutcome, b: ScoreOutcome, labels: tuple[str, str]
) -> tuple[Sequence[CharScore], Sequence[CharScore]]:
    first, second = _per_char(a, labels[0]), _per_char(b, labels[1])
    text_a = "".join(score["char"] for score in first)
    text_b = "".join(score["char"] for score in second)
    if text_a != text_b:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"per_char of {labels[0]!r} and {labels[1]!r} score different texts "
            f"({len(text_a)} and {len(text_b)} chars, first {text_a[:20]!r} and {text_b[:20]!r})",
        )
    return first, second


def compare_html(
    a: ScoreOutcome,
    b: ScoreOutcome,
    *,
    labels: tuple[str, str] = ("A", "B"),
    title: str = "surprisal per character, two models",
    num_spans: int = 5,
) -> str:
    """Two models' scores of the same text side by side, on one scale, and their difference.

    The difference view shades each character by ``b - a`` bits: blue where ``labels[1]``
    is less surprised, red where it is more.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when an outcome has no ``per_char`` or the two
            score different texts.
    """
    first, second = _same_text(a, b, labels)
    top = _scale_max([score["surprisal_bits"] for score in [*first, *second]])
    columns = "".join(
        f'<div style="flex:1;min-width:0"><b>{_esc(label)}</b><div>{_summary(outcome)}</div>'
        f"{_heatmap(scores, top)}</div>"
        for label, outcome, scores in ((labels[0], a, first), (labels[1], b, second))
    )
    deltas = [y["surprisal_bits"] - x["surprisal_bits"] for x, y in zip(first, second, strict=True)]
    dmax = _scale_max([abs(delta) for delta in deltas])
    cells = "".join(
        _cell(
            x["char"],
            _mix(_DIVERGING, 0.5 + 0.5 * delta / dmax),
            f"{visible(x['char'])!r} {labels[0]} {x['surprisal_bits']:.2f} bits,"
            f" {labels[1]} {y['surprisal_bits']:.2f} bits, difference {delta:+.2f} bits",
        )
        for x, y, delta in zip(first, second, deltas, strict=True)
    )
    gap = b["bits_per_char"] - a["bits_per_char"]
    changed = sorted(
        (
            (span_b["bits"] - span["bits"], span)
            for span, span_b in zip(words(first), words(second), strict=True)
        ),
        key=lambda pair: -abs(pair[0]),
    )[:num_spans]
    moved = "".join(
        f"<li><code>{_esc(visible(span['text']))}</code> {delta:+.1f} bits"
        f", chars {span['start']}-{span['end']}</li>"
        for delta, span in changed
    )
    return (
        f'<div style="{_WRAP_STYLE}"><h4 style="margin:4px 0">{_esc(title)}</h4>'
        f"{_legend(_HEAT, '0 bits', f'{top:g} bits or more')}"
        f'<div style="display:flex;gap:12px">{columns}</div>'
        f'<div style="margin-top:8px"><b>{_esc(f"difference, {labels[1]} minus {labels[0]}")}'
        f"</b>: {gap:+.3f} bits/char</div>"
        f"{_legend(_DIVERGING, f'{-dmax:g} bits', f'+{dmax:g} bits')}"
        f'<div style="{_BOX_STYLE}">{cells}</div>'
        f'<div style="margin-top:6px">words that moved most:</div>'
        f'<ol style="margin:4px 0">{moved}</ol></div>'
    )


class ScoreView:
    """A scored text that displays as its heatmap in a notebook (``_repr_html_``)."""

    def __init__(self, outcome: ScoreOutcome, *, title: str = "surprisal per character") -> None:
        self.outcome = outcome
        self.title = title

    def html(self) -> str:
        """The view's HTML (see ``score_html``)."""
        return score_html(self.outcome, title=self.title)

    def _repr_html_(self) -> str:
        return self.html()


class CompareView:
    """Two models' scores of one text that display side by side in a notebook."""

    def __init__(
        self,
        a: ScoreOutcome,
        b: ScoreOutcome,
        *,
        labels: tuple[str, str] = ("A", "B"),
        title: str = "surprisal per character, two models",
    ) -> None:
        self.a = a
        self.b = b
        self.labels = labels
        self.title = title

    def html(self) -> str:
        """The view's HTML (see ``compare_html``)."""
        return compare_html(self.a, self.b, labels=self.labels, title=self.title)

    def _repr_html_(self) -> str:
        return self.html()

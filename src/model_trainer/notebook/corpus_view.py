"""Spans of a scored corpus as a table: choose a row to see its document's heatmap.

``show_spans`` takes a table of spans (``surprising_spans`` or ``where_beats``, filtered or
not) and the scoring they came from. In a notebook it is a list of the spans above the
heatmap of the chosen one's document around the span (framed), rebuilt from the scoring's
characters table; for a ``where_beats`` row both models' heatmaps, on one scale. Without a
notebook (``MODEL_TRAINER_CONSOLE=1``, or no front end) it is a plain text table.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Final, Protocol

import ipywidgets
import numpy as np

from model_trainer.core.analysis.slices import (
    CorpusScores,
    Table,
    as_table,
    column_names,
    floats,
    ints,
    objects,
    read_table,
)
from model_trainer.core.contracts.model import CharScore, TopKItem
from model_trainer.core.errors import ModelTrainerError
from model_trainer.notebook.frontend import in_notebook
from model_trainer.notebook.scoring_view import heatmap_html, scale_max, visible

SPAN_COLUMNS: Final = ("model", "doc", "start", "end")
"""The columns every table of spans has (``surprising_spans``, ``where_beats``)."""
CHAR_COLUMNS: Final = ("doc", "model", "pos", "char", "bits", "rank", "token")
"""The columns of the characters table a heatmap is drawn from."""
CONTEXT: Final = 300
"""Characters shown on each side of a span in its document's heatmap."""
_TEXT_WIDTH: Final = 40
_WRAP_STYLE: Final = "font-family:sans-serif;font-size:13px"

Row = dict[str, object]


class _Select(Protocol):
    value: int

    def observe(self, handler: Callable[[Mapping[str, object]], None], names: str) -> None: ...


class _Html(Protocol):
    value: str


class _Bundled(Protocol):
    def _repr_mimebundle_(self, **kwargs: object) -> dict[str, object] | None: ...


def _shown(value: object) -> str:
    """A value as the text table shows it."""
    if isinstance(value, float):
        return f"{value:.2f}"
    text = visible(str(value))
    return text if len(text) <= _TEXT_WIDTH else text[: _TEXT_WIDTH - 1] + "\u2026"


def spans_text(rows: list[Row]) -> str:
    """``rows`` as a plain text table, a numbered line each (``no spans`` for none).

    Text columns are aligned left, numbers right.
    """
    if not rows:
        return "no spans"
    names = list(rows[0])
    lines = [["#", *names]] + [
        [str(number), *(_shown(row[name]) for name in names)] for number, row in enumerate(rows)
    ]
    left = [False] + [isinstance(rows[0][name], str) for name in names]
    widths = [max(len(line[i]) for line in lines) for i in range(len(left))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if flush else cell.rjust(width)
            for cell, width, flush in zip(line, widths, left, strict=True)
        ).rstrip()
        for line in lines
    )


def spans_html(rows: list[Row]) -> str:
    """``rows`` as an HTML table, a numbered row each (every value escaped)."""
    if not rows:
        return "<p>no spans</p>"
    names = ["#", *rows[0]]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_shown(value))}</td>" for value in [number, *row.values()])
        + "</tr>"
        for number, row in enumerate(rows)
    )
    return f'<table style="{_WRAP_STYLE}"><tr>{head}</tr>{body}</table>'


def _records(table: Table) -> list[Row]:
    """The rows of ``table`` as dicts, column names as strings."""
    found = table.to_dict("records")
    rows = found if isinstance(found, list) else []
    return [
        {str(key): value for key, value in row.items()} for row in rows if isinstance(row, dict)
    ]


class _Characters:
    """The characters table as columns: each document's scores for each model, in order."""

    def __init__(self, table: Table) -> None:
        self.model = objects(table, "model")
        self.doc = ints(table, "doc")
        self.pos = ints(table, "pos")
        self.char = objects(table, "char")
        self.bits = floats(table, "bits")
        self.rank = ints(table, "rank")
        self.token = ints(table, "token")
        columns = column_names(table)
        top = "top_chars" in columns and "top_bits" in columns
        self.top_chars = objects(table, "top_chars") if top else None
        self.top_bits = objects(table, "top_bits") if top else None

    def scores(self, model: str, doc: int) -> list[CharScore]:
        """The scores of document ``doc`` by ``model``, in character order.

        Raises:
            ModelTrainerError: ``MODEL_NOT_FOUND`` when the table has none.
        """
        rows = np.flatnonzero(np.equal(self.model, model) & (self.doc == doc))
        if len(rows) == 0:
            raise ModelTrainerError(
                "MODEL_NOT_FOUND",
                f"the characters table has no characters of doc {doc} by model {model!r}",
            )
        rows = rows[np.argsort(self.pos[rows], kind="stable")]
        return [self._score(int(row)) for row in rows]

    def _score(self, row: int) -> CharScore:
        score: CharScore = {
            "char": str(self.char[row]),
            "surprisal_bits": float(self.bits[row]),
            "token_index": int(self.token[row]),
            "rank": int(self.rank[row]),
        }
        if self.top_chars is not None and self.top_bits is not None:
            chars = np.asarray(self.top_chars[row], dtype=np.object_)
            bits = np.asarray(self.top_bits[row], dtype=np.float64)
            score["top_k"] = [
                TopKItem(text=str(char), prob=float(2.0**-bit))
                for char, bit in zip(chars, bits, strict=True)
            ]
        return score


class SpansView:
    """A table of spans; choosing a row shows its document's heatmap around the span.

    In a notebook it displays as a list of the spans above the chosen one's heatmap
    (``choose`` picks a row too); elsewhere as the plain text table (``text``).
    """

    def __init__(
        self, scores: CorpusScores, spans: object, *, notebook: bool, context: int = CONTEXT
    ) -> None:
        table = as_table(spans)
        columns = column_names(table)
        for column in SPAN_COLUMNS:
            if column not in columns:
                raise ModelTrainerError(
                    "INVALID_CONFIG",
                    f"spans has no column {column!r}: give a table of surprising_spans or "
                    f"where_beats (its columns: {', '.join(columns)})",
                )
        if context < 0:
            raise ModelTrainerError("INVALID_CONFIG", f"context must be at least 0, got {context}")
        self.rows = _records(table)
        self.models = objects(table, "model")
        self.others = objects(table, "other") if "other" in columns else None
        self.docs, self.starts, self.ends = (
            ints(table, "doc"),
            ints(table, "start"),
            ints(table, "end"),
        )
        self.characters = _Characters(read_table(scores, "characters", CHAR_COLUMNS))
        self.context = context
        self.notebook = notebook
        self.chosen = 0
        self.page: _Html = ipywidgets.HTML(value=self.heatmap(0) if self.rows else "no spans")
        self.select: _Select = ipywidgets.Select(
            options=[(self._label(number), number) for number in range(len(self.rows))],
            rows=min(len(self.rows), 10),
            layout=ipywidgets.Layout(width="100%"),
        )
        self.select.observe(self._on_select, names="value")
        self.widget: _Bundled = ipywidgets.VBox([self.select, self.page])

    def _label(self, number: int) -> str:
        row = self.rows[number]
        text = _shown(row.get("text", ""))
        numbers = ", ".join(
            f"{name} {value:.2f}" for name, value in row.items() if isinstance(value, float)
        )
        return f"{number}. doc {row['doc']} [{row['start']}:{row['end']}] {text}  ({numbers})"

    def _on_select(self, _: Mapping[str, object]) -> None:
        self.chosen = self.select.value
        self.page.value = self.heatmap(self.chosen)

    def choose(self, row: int) -> None:
        """Show the heatmap of the spans' row ``row``.

        Raises:
            ModelTrainerError: ``INVALID_CONFIG`` for a row that is not in the table.
        """
        if not 0 <= row < len(self.rows):
            raise ModelTrainerError(
                "INVALID_CONFIG", f"row must be in [0, {len(self.rows) - 1}], got {row}"
            )
        self.select.value = row

    def heatmap(self, row: int) -> str:
        """The HTML of row ``row``'s document around its span, for its model (and ``other``)."""
        doc, start, end = int(self.docs[row]), int(self.starts[row]), int(self.ends[row])
        models = [str(self.models[row])]
        if self.others is not None:
            models.append(str(self.others[row]))
        scores = [self.characters.scores(model, doc) for model in models]
        low, high = max(0, start - self.context), min(len(scores[0]), end + self.context)
        shown = [every[low:high] for every in scores]
        top = scale_max([score for each in shown for score in each])
        parts = [
            f'<div style="{_WRAP_STYLE}"><b>document {doc}</b>: characters {start}-{end} '
            f"(framed), shown {low}-{high} of {len(scores[0])}</div>"
        ]
        parts.extend(
            f'<div style="{_WRAP_STYLE}"><h4 style="margin:6px 0 2px">{html.escape(model)}</h4>'
            f"{heatmap_html(each, vmax=top, mark=(start - low, end - low))}</div>"
            for model, each in zip(models, shown, strict=True)
        )
        return "".join(parts)

    def text(self) -> str:
        """The spans as a plain text table."""
        return spans_text(self.rows)

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs: object) -> dict[str, object]:
        plain: dict[str, object] = {"text/plain": self.text()}
        if not self.notebook:
            return plain
        # Where the widget cannot be drawn (a saved notebook read without its widget state),
        # the table and the chosen span's heatmap as HTML.
        page = spans_html(self.rows) + self.page.value
        return {**(self.widget._repr_mimebundle_(**kwargs) or {}), **plain, "text/html": page}


def show_spans(scores: CorpusScores, spans: object, *, context: int = CONTEXT) -> SpansView:
    """A table of spans; in a notebook, choosing a row shows its document's heatmap.

    ``spans`` is a table of ``surprising_spans`` or ``where_beats`` (filtered or not) of
    ``scores``; the heatmaps are drawn from ``scores``' characters table, ``context``
    characters each side of the span. Without a notebook it is a plain text table.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a table without the spans' columns or a
            scoring without a characters table, ``MODEL_NOT_FOUND`` for a span whose
            document the characters table lacks.
    """
    return SpansView(scores, spans, notebook=in_notebook(), context=context)

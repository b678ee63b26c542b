"""The table of spans: a text table in the console, a list and a heatmap in a notebook."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pandas as pd
import pytest

from model_trainer.core.analysis.slices import CorpusScores
from model_trainer.core.analysis.spans import surprising_spans, where_beats
from model_trainer.core.errors import ModelTrainerError
from model_trainer.notebook.corpus_view import SpansView, show_spans, spans_html, spans_text

Maker = Callable[[Mapping[str, pd.DataFrame]], CorpusScores]
Documents = tuple[tuple[str, str, int], ...]
CELL = '<span style="background:'


FRAMED = re.compile(
    r'<span style="outline:[^"]*">((?:<span style="background:[^"]*" title="[^"]*">[^<]*</span>'
    r"(?:<br>)?)*)</span>"
)


def test_the_console_table_aligns_numbers_right_and_text_left() -> None:
    rows: list[dict[str, object]] = [
        {"model": "bpe", "doc": 0, "start": 4, "end": 7, "text": "cat", "bits": 3.14159},
        {
            "model": "char",
            "doc": 12,
            "start": 7,
            "end": 23,
            "text": "mutable;\n\ttuples",
            "bits": 12.5,
        },
        {"model": "bpe", "doc": 3, "start": 0, "end": 50, "text": "x" * 50, "bits": 100.0},
    ]
    text = 40
    shown = "mutable;\u21b5\u21e5tuples"
    assert spans_text(rows).splitlines() == [
        f"#  model  doc  start  end  {'text':<{text}}    bits",
        f"0  bpe      0      4    7  {'cat':<{text}}    3.14",
        f"1  char    12      7   23  {shown:<{text}}   12.50",
        f"2  bpe      3      0   50  {'x' * 39}\u2026  100.00",
    ]
    assert spans_text([]) == "no spans"
    page = spans_html(rows)
    assert page.count("<tr>") == 4
    assert "<th>#</th><th>model</th><th>doc</th>" in page
    assert "<td>1</td><td>char</td><td>12</td><td>7</td><td>23</td>" in page
    assert "<td>mutable;\u21b5\u21e5tuples</td><td>12.50</td>" in page
    assert spans_html([]) == "<p>no spans</p>"
    assert "<td>&lt;script&gt;</td>" in spans_html([{"text": "<script>"}])


def test_in_the_console_the_view_is_its_text_table(scores: CorpusScores) -> None:
    spans = surprising_spans(scores, "bpe", count=3)
    view = SpansView(scores, spans, notebook=False)
    assert repr(view) == view.text()
    assert view.text().splitlines()[0].split() == [
        "#",
        "model",
        "doc",
        "start",
        "end",
        "text",
        "bits",
        "bits_per_char",
    ]
    assert len(view.text().splitlines()) == 4
    assert view._repr_mimebundle_() == {"text/plain": view.text()}


def test_show_spans_follows_the_console_setting(
    scores: CorpusScores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_TRAINER_CONSOLE", "1")
    view = show_spans(scores, surprising_spans(scores, "char", count=2))
    assert not view.notebook
    assert list(view._repr_mimebundle_()) == ["text/plain"]


def test_a_row_shows_its_document_around_the_span_framed(
    scores: CorpusScores, documents: Documents
) -> None:
    spans = surprising_spans(scores, "bpe", count=4)
    view = SpansView(scores, spans, notebook=False, context=3)
    for row in range(4):
        doc, start, end = (int(view.docs[row]), int(view.starts[row]), int(view.ends[row]))
        text = documents[doc][0]
        low, high = max(0, start - 3), min(len(text), end + 3)
        page = view.heatmap(row)
        assert page.count(CELL) == high - low
        assert f"characters {start}-{end} (framed), shown {low}-{high} of {len(text)}" in page
        assert page.count("expected: ") == high - low
        assert page.count("<h4") == 1
        framed = FRAMED.findall(page)
        assert [cells.count(CELL) for cells in framed] == [end - start]


def test_a_gap_row_shows_both_models_on_one_scale(
    scores: CorpusScores, documents: Documents
) -> None:
    spans = where_beats(scores, "bpe", "char", count=2)
    view = SpansView(scores, spans, notebook=False, context=1000)
    page = view.heatmap(1)
    assert len(FRAMED.findall(page)) == 2
    assert page.count("<h4") == 2
    assert ">bpe</h4>" in page
    assert ">char</h4>" in page
    assert page.count("0 bits</span>") == 2
    scale = re.findall(r"<span>([0-9.]+) bits or more</span>", page)
    assert len(scale) == 2
    assert scale[0] == scale[1]
    assert f"shown 0-{len(documents[int(view.docs[1])][0])} of" in page


def test_in_a_notebook_choosing_a_row_redraws_the_heatmap(scores: CorpusScores) -> None:
    spans = surprising_spans(scores, "char", level="characters", length=3, count=5)
    view = SpansView(scores, spans, notebook=True)
    assert view.page.value == view.heatmap(0)
    view.choose(3)
    assert view.chosen == 3
    assert view.page.value == view.heatmap(3)
    assert view.page.value != view.heatmap(0)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == view.text()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"] == spans_html(view.rows) + view.heatmap(3)
    with pytest.raises(ModelTrainerError, match=r"row must be in \[0, 4\], got 5") as caught:
        view.choose(5)
    assert caught.value.code == "INVALID_CONFIG"


def test_without_top_k_the_heatmap_has_no_alternatives(
    tables: dict[str, pd.DataFrame], make_scores: Maker
) -> None:
    plain = make_scores(
        {**tables, "characters": tables["characters"].drop(columns=["top_chars", "top_bits"])}
    )
    view = SpansView(plain, surprising_spans(plain, "bpe", count=1), notebook=False)
    page = view.heatmap(0)
    assert CELL in page
    assert "expected: " not in page


def test_no_spans_is_an_empty_table(scores: CorpusScores) -> None:
    view = SpansView(scores, surprising_spans(scores, "bpe", length=1000), notebook=True)
    assert view.text() == "no spans"
    assert view.page.value == "no spans"


def test_bad_spans_are_refused_naming_what_is_wrong(
    scores: CorpusScores, without_characters: CorpusScores
) -> None:
    spans = surprising_spans(scores, "bpe", count=2)
    with pytest.raises(
        ModelTrainerError,
        match=r"spans has no column 'doc': give a table of surprising_spans or where_beats "
        r"\(its columns: model, text\)",
    ):
        SpansView(scores, pd.DataFrame({"model": ["bpe"], "text": ["x"]}), notebook=False)
    with pytest.raises(ModelTrainerError, match="context must be at least 0, got -1"):
        SpansView(scores, spans, notebook=False, context=-1)
    with pytest.raises(ModelTrainerError, match="the characters table was not written"):
        SpansView(without_characters, surprising_spans(without_characters, "bpe"), notebook=False)
    lost = pd.DataFrame({"model": ["bpe"], "doc": [99], "start": [0], "end": [1]})
    with pytest.raises(ModelTrainerError, match="no characters of doc 99 by model 'bpe'") as caught:
        SpansView(scores, lost, notebook=False)
    assert caught.value.code == "MODEL_NOT_FOUND"

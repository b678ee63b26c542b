"""The slices of a corpus scoring, each checked against a hand computation over the outcomes."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TypedDict

import pandas as pd
import pytest

from model_trainer.core.analysis.slices import CharClass, CorpusScores, char_class, surprisal_by
from model_trainer.core.analysis.spans import SpanLevel, surprising_spans, where_beats
from model_trainer.core.contracts.model import ScoreOutcome
from model_trainer.core.errors import ModelTrainerError

Row = dict[str, object]
Outcomes = dict[str, list[tuple[ScoreOutcome, ScoreOutcome]]]
Documents = tuple[tuple[str, str, int], ...]
Maker = Callable[[Mapping[str, pd.DataFrame]], CorpusScores]


def _records(frame: object) -> list[Row]:
    records = pd.DataFrame(frame).to_dict("records")
    return [{str(key): value for key, value in row.items()} for row in records]


def _close(found: list[Row], expected: list[Row]) -> None:
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        assert set(got) == set(want)
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
            else:
                assert got[key] == value, key


@pytest.mark.parametrize(
    ("char", "expected"),
    [
        ("a", "letter"),
        ("\u00c9", "letter"),
        ("\u6771", "letter"),
        ("7", "digit"),
        ("\u0663", "digit"),
        (" ", "space"),
        ("\n", "space"),
        ("\t", "space"),
        ("\u00a0", "space"),
        (".", "punctuation"),
        ("'", "punctuation"),
        ("$", "punctuation"),
        ("+", "punctuation"),
        ("^", "punctuation"),
        ("\U0001f600", "other"),
        ("\u0301", "other"),
        ("\x00", "other"),
    ],
)
def test_a_character_is_classed_by_its_unicode_category(char: str, expected: CharClass) -> None:
    assert char_class(char) == expected


@pytest.mark.parametrize("text", ["", "ab"])
def test_char_class_takes_exactly_one_character(text: str) -> None:
    with pytest.raises(ModelTrainerError, match=f"one character, got {text!r}") as caught:
        char_class(text)
    assert caught.value.code == "INVALID_CONFIG"


def _grouped(
    groups: dict[tuple[object, ...], list[tuple[float, int]]], keys: list[str]
) -> list[Row]:
    """Rows of ``surprisal_by`` from (bits, chars) pairs by (model, *keys)."""
    return [
        {
            "model": group[0],
            **dict(zip(keys, group[1:], strict=True)),
            "count": len(items),
            "mean_bits": math.fsum(bits for bits, _ in items) / len(items),
            "bits": math.fsum(bits for bits, _ in items),
            "chars": sum(chars for _, chars in items),
            "bits_per_char": math.fsum(bits for bits, _ in items) / sum(c for _, c in items),
        }
        for group, items in sorted(groups.items())
    ]


def test_characters_by_class_and_by_group_metadata(
    scores: CorpusScores, outcomes: Outcomes, documents: Documents
) -> None:
    by_class: dict[tuple[object, ...], list[tuple[float, int]]] = defaultdict(list)
    by_group: dict[tuple[object, ...], list[tuple[float, int]]] = defaultdict(list)
    for model, docs in outcomes.items():
        for (chars, _), (_, _, group) in zip(docs, documents, strict=True):
            for score in chars["per_char"]:
                by_class[(model, char_class(score["char"]))].append((score["surprisal_bits"], 1))
                key = (model, group, char_class(score["char"]))
                by_group[key].append((score["surprisal_bits"], 1))

    _close(_records(surprisal_by(scores, "char_class")), _grouped(by_class, ["char_class"]))
    found = _records(surprisal_by(scores, ["group", "char_class"], level="characters"))
    _close(found, _grouped(by_group, ["group", "char_class"]))
    assert {row["char_class"] for row in found} == {"letter", "digit", "space", "punctuation"}


def test_characters_by_position_in_the_word(scores: CorpusScores, outcomes: Outcomes) -> None:
    groups: dict[tuple[object, ...], list[tuple[float, int]]] = defaultdict(list)
    for model, docs in outcomes.items():
        for chars, words in docs:
            inside = {
                pos: pos - word["start"]
                for word in words["per_word"]
                for pos in range(word["start"], word["end"])
            }
            for pos, score in enumerate(chars["per_char"]):
                groups[(model, inside.get(pos, -1))].append((score["surprisal_bits"], 1))

    found = _records(surprisal_by(scores, "in_word"))
    _close(found, _grouped(groups, ["in_word"]))
    assert found[0]["in_word"] == -1


def test_words_and_documents_by_condition(
    scores: CorpusScores, outcomes: Outcomes, documents: Documents
) -> None:
    words_by: dict[tuple[object, ...], list[tuple[float, int]]] = defaultdict(list)
    docs_by: dict[tuple[object, ...], list[tuple[float, int]]] = defaultdict(list)
    for model, docs in outcomes.items():
        for (chars, words), (_, condition, _) in zip(docs, documents, strict=True):
            for word in words["per_word"]:
                words_by[(model, condition)].append(
                    (word["surprisal_bits"], word["end"] - word["start"])
                )
            docs_by[(model, condition)].append((chars["canonical_bits"], chars["num_chars"]))

    _close(
        _records(surprisal_by(scores, "condition", level="words")),
        _grouped(words_by, ["condition"]),
    )
    found = _records(surprisal_by(scores, ["condition"], level="documents"))
    _close(found, _grouped(docs_by, ["condition"]))
    assert [row["model"] for row in found] == ["bpe", "bpe", "char", "char"]


class Run(TypedDict):
    """A run of consecutive words or characters of one document."""

    doc: int
    start: int
    end: int
    text: str
    bits: float


def _words(outcomes: Outcomes, model: str) -> list[Run]:
    """Every word the model scored, in document order."""
    return [
        Run(
            doc=doc,
            start=word["start"],
            end=word["end"],
            text=word["word"],
            bits=word["surprisal_bits"],
        )
        for doc, (_, words) in enumerate(outcomes[model])
        for word in words["per_word"]
    ]


def _characters(outcomes: Outcomes, model: str) -> list[Run]:
    """Every character the model scored, in document order."""
    return [
        Run(doc=doc, start=pos, end=pos + 1, text=score["char"], bits=score["surprisal_bits"])
        for doc, (chars, _) in enumerate(outcomes[model])
        for pos, score in enumerate(chars["per_char"])
    ]


def _runs(units: list[Run], length: int, documents: Documents) -> list[Run]:
    """Runs of ``length`` consecutive units of one document, their text from the document."""
    runs: list[Run] = []
    for first in range(len(units) - length + 1):
        chunk = units[first : first + length]
        doc, start, end = chunk[0]["doc"], chunk[0]["start"], chunk[-1]["end"]
        if doc == chunk[-1]["doc"]:
            text = re.sub(r"\s", " ", documents[doc][0][start:end])
            bits = math.fsum(unit["bits"] for unit in chunk)
            runs.append(Run(doc=doc, start=start, end=end, text=text, bits=bits))
    return runs


def _order(key: float, run: Run) -> tuple[float, int, int]:
    """Highest ``key`` first; ties: earlier document, earlier start."""
    return (-key, run["doc"], run["start"])


@pytest.mark.parametrize("length", [1, 2, 3])
def test_the_most_surprising_words_and_runs_of_words(
    scores: CorpusScores, outcomes: Outcomes, documents: Documents, length: int
) -> None:
    runs = sorted(
        _runs(_words(outcomes, "bpe"), length, documents), key=lambda run: _order(run["bits"], run)
    )
    expected: list[Row] = [
        {"model": "bpe", **run, "bits_per_char": run["bits"] / (run["end"] - run["start"])}
        for run in runs[:5]
    ]
    _close(_records(surprising_spans(scores, "bpe", length=length, count=5)), expected)


def test_the_most_surprising_runs_of_characters(
    scores: CorpusScores, outcomes: Outcomes, documents: Documents
) -> None:
    runs = _runs(_characters(outcomes, "char"), 4, documents)
    expected: list[Row] = [
        {"model": "char", **run, "bits_per_char": run["bits"] / 4}
        for run in sorted(runs, key=lambda run: _order(run["bits"], run))[:7]
    ]
    found = _records(surprising_spans(scores, "char", level="characters", length=4, count=7))
    _close(found, expected)


@pytest.mark.parametrize(("level", "length"), [("words", 1), ("words", 2), ("characters", 3)])
def test_where_one_model_beats_the_other(
    scores: CorpusScores,
    outcomes: Outcomes,
    documents: Documents,
    level: SpanLevel,
    length: int,
) -> None:
    units = _words if level == "words" else _characters
    mine = _runs(units(outcomes, "bpe"), length, documents)
    theirs = _runs(units(outcomes, "char"), length, documents)
    pairs = sorted(
        zip(mine, theirs, strict=True),
        key=lambda pair: _order(pair[1]["bits"] - pair[0]["bits"], pair[0]),
    )
    expected: list[Row] = [
        {
            "model": "bpe",
            "other": "char",
            **run,
            "other_bits": other["bits"],
            "gap": other["bits"] - run["bits"],
        }
        for run, other in pairs[:6]
    ]
    found = where_beats(scores, "bpe", "char", level=level, length=length, count=6)
    _close(_records(found), expected)


def test_spans_longer_than_the_corpus_are_none(scores: CorpusScores) -> None:
    assert _records(surprising_spans(scores, "char", length=10_000)) == []
    assert _records(where_beats(scores, "char", "bpe", level="characters", length=10_000)) == []


def test_an_unknown_model_is_named_with_the_known_ones(scores: CorpusScores) -> None:
    with pytest.raises(
        ModelTrainerError,
        match=r"model 'gpt' is not in the words table \(its models: 'bpe', 'char'\)",
    ) as caught:
        surprising_spans(scores, "gpt")
    assert caught.value.code == "MODEL_NOT_FOUND"
    with pytest.raises(ModelTrainerError, match="model 'lstm' is not in the characters table"):
        where_beats(scores, "bpe", "lstm", level="characters")


def test_bad_groupings_are_refused_naming_the_field(scores: CorpusScores) -> None:
    with pytest.raises(
        ModelTrainerError,
        match="by='speaker' is a column of neither the words table nor the documents table",
    ) as caught:
        surprisal_by(scores, ["condition", "speaker"], level="words")
    assert caught.value.code == "INVALID_CONFIG"
    with pytest.raises(
        ModelTrainerError, match="by='char_class' groups characters: use level='characters'"
    ):
        surprisal_by(scores, "char_class", level="words")
    with pytest.raises(ModelTrainerError, match="by must name at least one column"):
        surprisal_by(scores, [])
    with pytest.raises(ModelTrainerError, match="by='model' is not needed"):
        surprisal_by(scores, ["model", "in_word"])


@pytest.mark.parametrize(("field", "value"), [("length", 0), ("count", 0), ("count", -3)])
def test_span_counts_under_one_are_refused(scores: CorpusScores, field: str, value: int) -> None:
    options = {"length": 1, "count": 1, field: value}
    message = f"{field} must be at least 1, got {value}"
    with pytest.raises(ModelTrainerError, match=message):
        surprising_spans(scores, "bpe", length=options["length"], count=options["count"])
    with pytest.raises(ModelTrainerError, match=message):
        where_beats(scores, "bpe", "char", length=options["length"], count=options["count"])


def test_a_model_is_not_compared_with_itself(scores: CorpusScores) -> None:
    with pytest.raises(ModelTrainerError, match="model and other must differ, both are 'bpe'"):
        where_beats(scores, "bpe", "bpe")


def test_a_table_without_a_needed_column_is_named(
    tables: dict[str, pd.DataFrame], make_scores: Maker
) -> None:
    partial = make_scores({**tables, "words": tables["words"].drop(columns=["text"])})
    with pytest.raises(
        ModelTrainerError,
        match=r"the words table has no column 'text' \(its columns: doc, model, word, start, "
        r"end, bits, end_bits\)",
    ):
        surprising_spans(partial, "bpe")


def test_characters_not_written_are_asked_for(without_characters: CorpusScores) -> None:
    with pytest.raises(ModelTrainerError, match="the characters table was not written"):
        surprisal_by(without_characters, "char_class")


def test_spans_do_not_depend_on_the_order_of_the_rows(
    scores: CorpusScores, tables: dict[str, pd.DataFrame], make_scores: Maker
) -> None:
    shuffled = make_scores(
        {name: frame.sample(frac=1.0, random_state=7) for name, frame in tables.items()}
    )
    for level in ("words", "characters"):
        assert _records(surprising_spans(shuffled, "bpe", level=level, length=2)) == _records(
            surprising_spans(scores, "bpe", level=level, length=2)
        )
        assert _records(where_beats(shuffled, "char", "bpe", level=level, length=2)) == _records(
            where_beats(scores, "char", "bpe", level=level, length=2)
        )

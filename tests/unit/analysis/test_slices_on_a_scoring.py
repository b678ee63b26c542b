"""The slices through a real ``score_corpus`` scoring equal those of the outcomes' tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import model_trainer as mt
from model_trainer.core.analysis.slices import CorpusScores
from model_trainer.core.analysis.spans import SpanLevel
from model_trainer.core.contracts.corpus import TableName
from model_trainer.core.errors import ModelTrainerError

Row = dict[str, object]
TOLERANCE = 1e-4
"""A batched forward pass and one text at a time agree to this, not to the last bit."""


def _records(frame: object) -> list[Row]:
    return [
        {str(key): value for key, value in row.items()}
        for row in pd.DataFrame(frame).to_dict("records")
    ]


def _same(found: list[Row], expected: list[Row], keys: tuple[str, ...]) -> None:
    """Equal rows, matched on ``keys``: numbers within the tolerance, the rest exactly.

    A CSV's metadata columns are read as text, so the keys are compared as text.
    """
    assert len(found) == len(expected)
    wanted = {tuple(str(row[key]) for key in keys): row for row in expected}
    for row in found:
        want = wanted[tuple(str(row[key]) for key in keys)]
        assert set(row) == set(want)
        for name, value in want.items():
            if name in keys:
                assert str(row[name]) == str(value)
            elif isinstance(value, float):
                assert row[name] == pytest.approx(value, rel=TOLERANCE, abs=TOLERANCE), name
            else:
                assert row[name] == value, name


@pytest.fixture
def reopened(scoring: str, runs: Path) -> CorpusScores:
    """The scoring, reopened by its name."""
    return mt.open_scores(scoring, runs_dir=str(runs))


def test_groups_of_a_scoring_equal_those_of_its_documents_scored_alone(
    reopened: CorpusScores, scores: CorpusScores
) -> None:
    groups: tuple[tuple[list[str], TableName], ...] = (
        (["char_class"], "characters"),
        (["in_word"], "characters"),
        (["group", "char_class"], "characters"),
        (["condition"], "words"),
        (["condition"], "documents"),
    )
    for by, level in groups:
        keys = ("model", *by)
        _same(
            _records(mt.surprisal_by(reopened, by, level=level)),
            _records(mt.surprisal_by(scores, by, level=level)),
            keys,
        )


def test_spans_of_a_scoring_equal_those_of_its_documents_scored_alone(
    reopened: CorpusScores, scores: CorpusScores
) -> None:
    keys = ("doc", "start", "end")
    levels: tuple[tuple[SpanLevel, int], ...] = (("words", 1), ("words", 2), ("characters", 3))
    for level, length in levels:
        found = _records(mt.surprising_spans(reopened, "char", level=level, length=length))
        expected = _records(mt.surprising_spans(scores, "char", level=level, length=length))
        _same(found, expected, keys)
        found = _records(mt.where_beats(reopened, "bpe", "char", level=level, length=length))
        expected = _records(mt.where_beats(scores, "bpe", "char", level=level, length=length))
        _same(found, expected, keys)


def test_show_spans_draws_a_scoring_s_documents(
    reopened: CorpusScores, scores: CorpusScores
) -> None:
    spans = mt.where_beats(reopened, "bpe", "char", count=3)
    view = mt.show_spans(reopened, spans)
    alone = mt.show_spans(scores, spans)
    for row in range(3):
        assert view.heatmap(row).count('<span style="background:') == alone.heatmap(row).count(
            '<span style="background:'
        )


def test_a_table_the_scoring_did_not_write_is_named(
    jobs: dict[str, mt.api.TrainJob], runs: Path
) -> None:
    job = mt.score_corpus(
        dict(jobs), ["One short text.", "Another."], name="no-chars", runs_dir=str(runs), show=False
    )
    job.result()
    with pytest.raises(ModelTrainerError, match="table 'characters' was not written") as caught:
        mt.surprisal_by(job, "char_class")
    assert caught.value.code == "INVALID_CONFIG"
    by_doc = _records(mt.surprisal_by(job, "doc", level="words"))
    assert [(row["model"], row["doc"], row["count"]) for row in by_doc] == [
        ("bpe", 0, 4),
        ("bpe", 1, 2),
        ("char", 0, 4),
        ("char", 1, 2),
    ]

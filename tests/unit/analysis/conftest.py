"""A corpus scoring's tables built from real ``mt.score`` outcomes of two tiny trained models.

A char-LSTM (characters) and a GPT-2 (BPE) are trained briefly once per session; each
document is scored by each with ``detail_level="per_char"`` and ``"per_word"``, and the
outcomes are laid out in the documents, words and characters tables of a corpus scoring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pytest

import model_trainer as mt
from model_trainer.core.contracts.model import ScoreOutcome, WordScore
from model_trainer.core.contracts.schema import WORD_PATTERN
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.errors import ModelTrainerError

DOCUMENTS: tuple[tuple[str, str, int], ...] = (
    ("The cat sat on the mat.", "expected", 1),
    ("The cat sat on the moon.", "unexpected", 1),
    ("Version 3.11 was released in 2022, and it's fast!", "expected", 2),
    ("She drank a cup of hot tea.", "expected", 2),
    ("She drank a cup of hot gravel.", "unexpected", 3),
    ("Lists are mutable;\n\ttuples are not (see #42).", "unexpected", 3),
)
"""Each document's text, ``condition`` and ``group`` (its metadata)."""
TOP_K = 2

Outcomes = dict[str, list[tuple[ScoreOutcome, ScoreOutcome]]]
"""Per model: each document's per-character and per-word outcome, in document order."""


class TableScores:
    """A finished corpus scoring's tables, read back as DataFrames (only those written)."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.tables = tables

    def frame(self, table: str) -> pd.DataFrame:
        """The table ``table``, a copy."""
        if table not in self.tables:
            raise ModelTrainerError("INVALID_CONFIG", f"the {table} table was not written")
        return self.tables[table].copy()


def _train(family: str, tokenizer: TokenizerKind, runs: Path) -> mt.api.TrainJob:
    return mt.train(
        model_family=family,
        model_size="tiny",
        tokenizer_kind=tokenizer,
        vocab_size=300,
        num_epochs=1,
        max_steps_per_epoch=20,
        max_seq_len=64,
        batch_size=16,
        device="cpu",
        seed=1,
        runs_dir=str(runs),
        show=False,
    )


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runs folder of the two models and their scorings."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def jobs(runs: Path) -> dict[str, mt.api.TrainJob]:
    """``char`` (a char-LSTM) and ``bpe`` (a GPT-2), trained briefly."""
    trained = {"char": _train("char_lstm", "char", runs), "bpe": _train("gpt2", "bpe", runs)}
    for job in trained.values():
        job.result()
    return trained


@pytest.fixture(scope="session")
def outcomes(jobs: dict[str, mt.api.TrainJob]) -> Outcomes:
    """Each document scored by each model, one ``mt.score`` at a time."""
    return {
        name: [
            (
                mt.score(
                    job,
                    text=text,
                    detail_level="per_char",
                    top_k=TOP_K,
                    attribution="char_probability",
                    beam=1,
                    word_pattern=WORD_PATTERN,
                ),
                mt.score(job, text=text, detail_level="per_word", word_pattern=WORD_PATTERN),
            )
            for text, _, _ in DOCUMENTS
        ]
        for name, job in jobs.items()
    }


@pytest.fixture(scope="session")
def scoring(jobs: dict[str, mt.api.TrainJob], runs: Path) -> str:
    """The name of the documents' scoring by ``score_corpus``, from a CSV with metadata."""
    csv = runs / "documents.csv"
    pd.DataFrame(
        {
            "text": [text for text, _, _ in DOCUMENTS],
            "condition": [condition for _, condition, _ in DOCUMENTS],
            "group": [group for _, _, group in DOCUMENTS],
        }
    ).to_csv(csv, index=False)
    job = mt.score_corpus(
        dict(jobs),
        str(csv),
        name="slices",
        tables=("documents", "words", "characters"),
        top_k=TOP_K,
        runs_dir=str(runs),
        show=False,
    )
    job.result()
    return job.name


def _rows(outcomes: Outcomes) -> dict[str, list[dict[str, object]]]:
    rows: dict[str, list[dict[str, object]]] = {"documents": [], "words": [], "characters": []}
    for model in sorted(outcomes):
        for doc, ((chars, words), (_, condition, group)) in enumerate(
            zip(outcomes[model], DOCUMENTS, strict=True)
        ):
            rows["documents"].append(
                {
                    "doc": doc,
                    "model": model,
                    "chars": chars["num_chars"],
                    "tokens": chars["num_tokens"],
                    "bits": chars["canonical_bits"],
                    "bits_per_char": chars["canonical_bits"] / chars["num_chars"],
                    "char_bits": chars["char_bits"],
                    "condition": condition,
                    "group": group,
                }
            )
            spans = words["per_word"]
            rows["words"].extend(
                {
                    "doc": doc,
                    "model": model,
                    "word": index,
                    "start": word["start"],
                    "end": word["end"],
                    "text": word["word"],
                    "bits": word["surprisal_bits"],
                    "end_bits": word["end_bits"],
                }
                for index, word in enumerate(spans)
            )
            rows["characters"].extend(
                {
                    "doc": doc,
                    "model": model,
                    "pos": pos,
                    "char": score["char"],
                    "bits": score["surprisal_bits"],
                    "rank": score["rank"],
                    "token": score["token_index"],
                    **_place(pos, spans),
                    "top_chars": [item["text"] for item in score.get("top_k", [])],
                    "top_bits": [-math.log2(item["prob"]) for item in score.get("top_k", [])],
                }
                for pos, score in enumerate(chars["per_char"])
            )
    return rows


def _place(pos: int, spans: Sequence[WordScore]) -> dict[str, int]:
    """The word holding character ``pos`` and its position in it (-1 and -1 outside words)."""
    for index, span in enumerate(spans):
        if span["start"] <= pos < span["end"]:
            return {"word": index, "in_word": pos - span["start"]}
    return {"word": -1, "in_word": -1}


@pytest.fixture(scope="session")
def tables(outcomes: Outcomes) -> dict[str, pd.DataFrame]:
    """The three tables of the scoring, in the pinned schema."""
    return {name: pd.DataFrame(rows) for name, rows in _rows(outcomes).items()}


@pytest.fixture(scope="session")
def documents() -> tuple[tuple[str, str, int], ...]:
    """Each document's text, ``condition`` and ``group``."""
    return DOCUMENTS


@pytest.fixture(scope="session")
def make_scores() -> type[TableScores]:
    """Makes a scoring of given tables."""
    return TableScores


@pytest.fixture
def scores(tables: dict[str, pd.DataFrame]) -> TableScores:
    """The scoring with all three tables."""
    return TableScores(tables)


@pytest.fixture
def without_characters(tables: dict[str, pd.DataFrame]) -> TableScores:
    """The scoring of the same corpus where the characters table was not asked for."""
    return TableScores({name: tables[name] for name in ("documents", "words")})

"""pandas DataFrames of runs, of a run's epochs and of a text's per-character scores.

For exploration in a notebook: ``runs_frame`` has a row per run (``list_runs``),
``history_frame`` a row per finished epoch of a run (its ``EpochMetrics``, the
validation bits per character, and what the model wrote and its probe's bits per character
at the epoch's end when it watched itself learn), ``score_frame`` a row per scored character (char,
surprisal in bits, token index, rank and the top-k alternatives). Needs the ``pandas``
extra; the numbers are the outcomes' own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from model_trainer.core.contracts.model import EpochMetrics, ScoreOutcome, WordScore
from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.trainer_metrics_events import is_config
from model_trainer.core.extras import require_extra
from model_trainer.core.jobs.evolution import EpochEvolution, evolution_by_epoch
from model_trainer.core.jobs.run_store import EVENTS_FILE, RunSummary
from model_trainer.core.training.checkpoint import load_history

SCORE_COLUMNS = ("char", "surprisal_bits", "token_index", "rank", "top_k")
WORD_COLUMNS = tuple(WordScore.__annotations__)
HISTORY_COLUMNS = (
    *EpochMetrics.__annotations__,
    "val_bits_per_char",
    "sample",
    "probe_bits_per_char",
)


class Frame(Protocol):
    """The part of a ``pandas.DataFrame`` the kit's own code reads."""

    def __len__(self) -> int:
        """The number of rows."""
        ...

    def to_dict(self, orient: str) -> object:
        """The frame as plain data (``orient="records"``: a list of row dicts)."""
        ...


class _FrameMaker(Protocol):
    def __call__(self, data: Sequence[Mapping[str, object]], columns: Sequence[str]) -> Frame: ...


def _frame_maker() -> _FrameMaker:
    """``pandas.DataFrame``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when pandas is not installed.
    """
    maker: _FrameMaker = require_extra("pandas", extra="pandas", needed_by="a DataFrame").DataFrame
    return maker


def runs_frame_of(runs: Sequence[RunSummary]) -> Frame:
    """A row per run of ``runs``, with the listing's columns."""
    return _frame_maker()(list(runs), columns=list(RunSummary.__annotations__))


def history_frame_of(folder: Path) -> Frame:
    """A row per finished epoch of the run in ``folder`` (from its last checkpoint)."""
    history = load_history(str(folder))
    events = read_events(folder / EVENTS_FILE)
    configs = [event for event in events if is_config(event)]
    evolution = {row["epoch"]: row for row in evolution_by_epoch(events)}
    unit = configs[-1].get("loss_unit", "token") if configs else "token"
    chars = configs[-1].get("chars_per_token", 1.0) if configs else 1.0
    rows = [
        {
            **metrics,
            "val_bits_per_char": None
            if metrics["val_loss"] is None
            else bits_per_char(metrics["val_loss"], unit, chars),
            **_watched(evolution.get(metrics["epoch"])),
        }
        for metrics in history
    ]
    return _frame_maker()(rows, columns=list(HISTORY_COLUMNS))


def _watched(row: EpochEvolution | None) -> dict[str, object]:
    """An epoch's closing sample and probe bits per character (None when not watched)."""
    return {
        "sample": None if row is None else row["sample"],
        "probe_bits_per_char": None if row is None else row["probe_bits_per_char"],
    }


def score_frame_of(outcome: ScoreOutcome) -> Frame:
    """A row per character of a per-character score, or per word of a per-word one.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for an outcome without ``per_char`` or
            ``per_word`` (scored with ``detail_level="summary"``).
    """
    if "per_word" in outcome:
        return _frame_maker()(list(outcome["per_word"]), columns=list(WORD_COLUMNS))
    if "per_char" not in outcome:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            "score_frame needs per-character or per-word scores: score with "
            "detail_level='per_char' or detail_level='per_word'",
        )
    rows = [
        {
            "char": score["char"],
            "surprisal_bits": score["surprisal_bits"],
            "token_index": score["token_index"],
            "rank": score["rank"],
            "top_k": score.get("top_k"),
        }
        for score in outcome["per_char"]
    ]
    return _frame_maker()(rows, columns=list(SCORE_COLUMNS))

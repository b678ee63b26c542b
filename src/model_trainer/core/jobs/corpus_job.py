"""The corpus scoring job: windows of documents scored by each model, written as they finish.

The work reads the source once to count its documents (for the progress and time left),
then again window by window: a window already marked done (a resumed scoring) is passed
over; every other is scored by each model, its parts written and its marker set. A Stop
ends the work between two batches; the window under way is dropped whole, and the same
scoring started again scores it from its start. Each finished window emits a
``trainer.job.progress.v1`` event whose payload holds the documents and characters done and
each model's running bits per character.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict

from model_trainer.core.analysis.batches import windows
from model_trainer.core.analysis.folder import (
    WindowTotals,
    discard_torn,
    done_windows,
    finished_parts,
    mark_done,
    part_path,
    read_scoring,
)
from model_trainer.core.analysis.parquet import TableFrame, commit_parts, read_frame, write_part
from model_trainer.core.analysis.records import Records
from model_trainer.core.analysis.scorer import ModelUse, score_window
from model_trainer.core.analysis.tables import Columns, Scored, add_rows, empty_columns
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.corpus import (
    CorpusOutcome,
    CorpusScoreConfig,
    ModelTotals,
    TableName,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.job_events import JsonValue, make_progress_event
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.job_store import JobRecorder, new_job_record
from model_trainer.core.jobs.run_store import EVENTS_FILE
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory, new_job_id


class CorpusPlan(TypedDict):
    """A scoring ready to run: its folder, models, records and config, all checked.

    Under torchrun, process ``rank`` of ``world`` scores the windows ``k`` with
    ``k % world == rank``; ``meet`` returns once every rank has called it (a barrier): once
    after rank 0 has discarded the torn parts, and once at the end, so rank 0's outcome
    counts every window.
    """

    name: str
    folder: str
    models: list[ModelUse]
    records: Records
    cfg: CorpusScoreConfig
    rank: int
    world: int
    meet: Callable[[], None]


def _totals(done: dict[int, WindowTotals], names: Sequence[str]) -> dict[str, ModelTotals]:
    out: dict[str, ModelTotals] = {}
    for name in names:
        parts = [totals["models"][name] for totals in done.values()]
        chars = sum(part["chars"] for part in parts)
        bits = sum(part["bits"] for part in parts)
        out[name] = {
            "documents": sum(part["documents"] for part in parts),
            "chars": chars,
            "tokens": sum(part["tokens"] for part in parts),
            "bits": bits,
            "bits_per_char": bits / chars if chars else float("nan"),
        }
    return out


def scoring_outcome(
    plan: CorpusPlan, done: dict[int, WindowTotals], *, cancelled: bool
) -> CorpusOutcome:
    """The outcome of ``plan`` with the windows ``done``."""
    return {
        "name": plan["name"],
        "folder": plan["folder"],
        "documents": sum(totals["documents"] for totals in done.values()),
        "chars": sum(totals["chars"] for totals in done.values()),
        "models": _totals(done, [use["name"] for use in plan["models"]]),
        "tables": list(plan["cfg"]["tables"]),
        "cancelled": cancelled,
    }


def _window_totals(window: int, scored: list[list[Scored]]) -> WindowTotals:
    models: dict[str, ModelTotals] = {}
    for per_model in scored:
        chars = sum(len(one["text"]) for one in per_model)
        bits = sum(one["bits"] for one in per_model)
        models[per_model[0]["model"]] = {
            "documents": len(per_model),
            "chars": chars,
            "tokens": sum(one["tokens"] for one in per_model),
            "bits": bits,
            "bits_per_char": bits / chars if chars else float("nan"),
        }
    first = scored[0]
    return {
        "window": window,
        "documents": len(first),
        "chars": sum(len(one["text"]) for one in first),
        "models": models,
    }


def _write_window(
    folder: Path, cfg: CorpusScoreConfig, totals: WindowTotals, scored: list[list[Scored]]
) -> None:
    temporaries: list[Path] = []
    for table in cfg["tables"]:
        columns: Columns = empty_columns(table, top_k=cfg["top_k"] is not None)
        for per_model in scored:
            for one in per_model:
                add_rows(table, one, columns)
        temporaries.append(write_part(part_path(folder, table, totals["window"]), table, columns))
    commit_parts(temporaries)
    mark_done(folder, totals)


class CorpusWork:
    """The job's work: score the windows not done yet, each written whole."""

    def __init__(self, plan: CorpusPlan, settings: Settings, recorder: JobRecorder | None) -> None:
        self.plan = plan
        self._settings = settings
        self._recorder = recorder

    def __call__(self, control: JobControl) -> CorpusOutcome:
        """Score the corpus, or what is left of it; the outcome counts every window done."""
        plan, cfg = self.plan, self.plan["cfg"]
        folder = Path(plan["folder"])
        names = [use["name"] for use in plan["models"]]
        if plan["rank"] == 0:
            discard_torn(folder, cfg["tables"])
        plan["meet"]()  # no rank writes before the torn parts are gone
        done = done_windows(folder)
        total_docs = total_chars = 0
        for record in plan["records"]():
            total_docs += 1
            total_chars += len(record["text"])
        progress = _Progress(control, names, total_docs, total_chars)
        progress.emit(done)
        cancelled = False
        numbered = enumerate(plan["records"]())
        for window, docs in enumerate(windows(numbered, cfg["window_docs"])):
            if window in done or window % plan["world"] != plan["rank"]:
                continue
            scored: list[list[Scored]] = []
            for use in plan["models"]:
                one = score_window(use, docs, cfg, self._settings, control.cancelled)
                if one is None:
                    break
                scored.append(one)
            if len(scored) < len(plan["models"]):
                cancelled = True
                break
            totals = _window_totals(window, scored)
            _write_window(folder, cfg, totals, scored)
            done[window] = totals
            if self._recorder is not None:
                self._recorder.heartbeat(time.time())
            progress.emit(done if plan["world"] == 1 else done_windows(folder))
        plan["meet"]()
        return scoring_outcome(plan, done_windows(folder), cancelled=cancelled)


class _Progress:
    """Emits the scoring's progress: documents and characters done, bits per character."""

    def __init__(self, control: JobControl, names: list[str], docs: int, chars: int) -> None:
        self._control = control
        self._names = names
        self._docs = docs
        self._chars = chars

    def emit(self, done: dict[int, WindowTotals]) -> None:
        docs = sum(totals["documents"] for totals in done.values())
        chars = sum(totals["chars"] for totals in done.values())
        bpc: dict[str, JsonValue] = {
            name: totals["bits_per_char"] if totals["chars"] else None
            for name, totals in _totals(done, self._names).items()
        }
        payload: dict[str, JsonValue] = {
            "documents": docs,
            "total_documents": self._docs,
            "chars": chars,
            "total_chars": self._chars,
            "bits_per_char": bpc,
        }
        self._control.emit(
            make_progress_event(
                job_id=self._control.job_id,
                user_id=self._control.user_id,
                progress=docs * 100 // max(self._docs, 1),
                message="scoring",
                payload=payload,
            )
        )


def cancel_message(outcome: CorpusOutcome) -> str | None:
    """What a stopped scoring's ``TRAINING_CANCELLED`` record says (None when it finished)."""
    if not outcome["cancelled"]:
        return None
    return (
        f"scoring {outcome['name']!r} stopped after {outcome['documents']:,} documents; "
        f"score_corpus with name={outcome['name']!r} goes on from there"
    )


class ScoringTables:
    """The tables of a scoring folder, read back as pandas DataFrames."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.name = Path(folder).name

    def frame(self, table: TableName) -> TableFrame:
        """Every finished row of ``table``, sorted by model, document, then word or position.

        Raises:
            ModelTrainerError: ``INVALID_CONFIG`` for a table the scoring did not write, or
                without the ``corpus`` extra.
        """
        manifest = read_scoring(Path(self.folder))
        tables = manifest["config"]["tables"]
        if table not in tables:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"table {table!r} was not written by scoring {self.name!r}; "
                f"its tables: {', '.join(tables)}",
            )
        top_k = manifest["config"]["top_k"] is not None
        return read_frame(table, finished_parts(Path(self.folder), table), top_k=top_k)


class ScoringJob:
    """A corpus scoring under way: stop it, wait for its outcome, read its tables so far."""

    def __init__(self, job: JobHandle[CorpusOutcome], folder: str) -> None:
        self.job = job
        self.folder = folder
        self.name = Path(folder).name
        self._tables = ScoringTables(folder)

    def frame(self, table: TableName) -> TableFrame:
        """Every finished row of ``table`` so far (``ScoringTables.frame``)."""
        return self._tables.frame(table)

    @property
    def state(self) -> str:
        """``queued``, ``running``, ``completed``, ``failed`` or ``cancelled``."""
        return self.job.state

    def stop(self) -> None:
        """Stop between two batches; finished windows are kept, the one under way dropped."""
        self.job.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the scoring ends or ``timeout`` seconds pass; True when it has ended."""
        return self.job.wait(timeout)

    def done(self) -> bool:
        """Whether the scoring has ended."""
        return self.job.done()

    def result(self) -> CorpusOutcome:
        """Wait, then return the outcome (``cancelled`` after a Stop) or raise the error."""
        return self.job.result()

    def show(self) -> None:
        """Show the live progress again."""
        self.job.show()


def start_corpus_job(
    plan: CorpusPlan,
    settings: Settings,
    *,
    view: ViewFactory | None = None,
    sinks: Sequence[EventSink] = (),
) -> ScoringJob:
    """Start scoring ``plan`` on a background thread; returns its handle at once.

    Rank 0 (the only process outside torchrun) keeps the folder's ``job.json`` and events.
    """
    job_id = new_job_id("score_corpus", plan["name"])
    record = new_job_record(
        run_id=plan["name"], job_id=job_id, kind="score_corpus", now=time.time()
    )
    lead = plan["rank"] == 0
    recorder = JobRecorder(plan["folder"], record) if lead else None
    if recorder is not None:
        recorder.write()
    job: JobHandle[CorpusOutcome] = JobHandle(
        kind="score_corpus",
        job_id=job_id,
        run_id=plan["name"],
        run_dir=plan["folder"],
        work=CorpusWork(plan, settings, recorder),
        sinks=sinks,
        view=view,
        events_path=str(Path(plan["folder"]) / EVENTS_FILE) if lead else None,
        cancel_message=cancel_message,
        result_id=lambda outcome: outcome["name"],
        on_state=None if recorder is None else recorder.set_state,
    )
    return ScoringJob(job.start(), plan["folder"])

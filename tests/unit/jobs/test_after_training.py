"""The step after training: its events, and a run that stays completed when it cannot write."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import (
    make_progress_event,
    make_warning_event,
)
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.jobs.job_store import read_job
from model_trainer.core.jobs.train_job import start_train

AFTER = ["closing score", "sample", "curves.png", "report.html"]


def _announced(piece: str, ts: float) -> Event:
    return make_progress_event(
        job_id="run", user_id=0, progress=100, message=f"after training: {piece}", ts=ts
    )


def _train(tmp_path: Path, settings: Settings, blocked: str | None) -> tuple[Path, list[Event]]:
    """A one-epoch char run; a folder stands where ``blocked`` is written, when given."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:3000], encoding="utf-8")
    folder = Path(settings["runs_dir"]) / "run"

    def block(event: Event) -> None:
        if blocked is not None and event["type"] == "trainer.metrics.config.v1":
            (folder / blocked).mkdir()

    cfg = train_config(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
        seed=3,
    )
    handle = start_train(cfg, settings, run_id="run", sinks=[CallbackSink(block)])
    handle.result()
    assert handle.state == "completed"
    assert read_job(folder)["state"] == "completed"
    events = read_events(folder / "events.jsonl")
    first = next(
        index
        for index, event in enumerate(events)
        if event["type"] == "trainer.job.progress.v1" and event["message"].startswith("after")
    )
    return folder, events[first:]


def test_the_step_announces_each_piece_then_the_run_completes(
    tmp_path: Path, settings: Settings
) -> None:
    folder, events = _train(tmp_path, settings, None)
    stamps = [event.get("ts", 0.0) for event in events]
    assert events[:4] == [_announced(piece, ts) for piece, ts in zip(AFTER, stamps, strict=False)]
    assert [event["type"] for event in events[4:]] == [
        "trainer.metrics.completed.v1",
        "trainer.job.completed.v1",
    ]
    assert (folder / "report.html").is_file()
    assert (folder / "curves.png").is_file()


@pytest.mark.parametrize(
    ("blocked", "unwritten"),
    [("report.html", ["report.html"]), ("curves.png", ["curves.png", "report.html"])],
)
def test_a_file_that_cannot_be_written_is_a_warning_and_the_run_completes(
    tmp_path: Path, settings: Settings, blocked: str, unwritten: list[str]
) -> None:
    folder, events = _train(tmp_path, settings, blocked)
    stamps = [event.get("ts", 0.0) for event in events]
    reached = AFTER[: AFTER.index(blocked) + 1]
    announced = [_announced(piece, ts) for piece, ts in zip(reached, stamps, strict=False)]
    cause = (
        f"cannot write {folder / blocked}: in the way (a folder is where a file should be); "
        "give a file path, not a folder"
    )
    warning = make_warning_event(
        job_id="run",
        user_id=0,
        progress=100,
        warning="after_training",
        code="ARTIFACT_UPLOAD_FAILED",
        message=f"{', '.join(unwritten)} not written (the run is completed and its model "
        f"saved): {cause}",
        details={"piece": blocked, "unwritten": list(unwritten)},
        ts=stamps[len(reached)],
    )
    assert events[: len(reached) + 1] == [*announced, warning]
    assert [event["type"] for event in events[len(reached) + 1 :]] == [
        "trainer.metrics.completed.v1",
        "trainer.job.completed.v1",
    ]
    assert (folder / "curves.png").is_file() == (blocked == "report.html")
    assert (folder / "model").is_dir()

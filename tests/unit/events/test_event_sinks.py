"""Sinks with real files: list, callback, JSON-lines file (across threads) and fan-out."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, EventEncodeError, read_events
from model_trainer.core.events.job_events import (
    JobProgressV1,
    make_completed_event,
    make_progress_event,
)
from model_trainer.core.events.sinks import (
    CallbackSink,
    EventSink,
    FanoutSink,
    JsonlFileSink,
    ListSink,
    cut_torn_line,
)
from model_trainer.core.events.trainer_metrics_events import make_eval_event

DEV_FULL = Path("/dev/full")


def progress(percent: int, job_id: str = "j") -> JobProgressV1:
    return make_progress_event(
        job_id=job_id, user_id=1, progress=percent, message=f"{percent}%", ts=float(percent)
    )


def test_list_sink_keeps_events_in_order() -> None:
    sink = ListSink()
    for percent in (0, 50, 100):
        sink.emit(progress(percent))
    sink.close()
    assert sink.events == [progress(0), progress(50), progress(100)]


def test_callback_sink_hands_each_event_to_its_function() -> None:
    seen: list[str] = []
    sink = CallbackSink(lambda event: seen.append(event["type"]))
    sink.emit(progress(1))
    sink.emit(make_completed_event(job_id="j", user_id=1, result_id="m", result_bytes=3))
    sink.close()
    assert seen == ["trainer.job.progress.v1", "trainer.job.completed.v1"]


def test_file_sink_creates_folders_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "r1" / "events.jsonl"
    first = JsonlFileSink(path)
    assert path.read_text(encoding="utf-8") == ""
    first.emit(progress(10))
    assert read_events(path) == [progress(10)]
    first.close()
    first.close()
    with JsonlFileSink(str(path)) as second:
        second.emit(progress(20))
    assert read_events(path) == [progress(10), progress(20)]
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_file_sink_cuts_a_line_torn_by_a_crash_before_it_appends(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with JsonlFileSink(path) as sink:
        sink.emit(progress(10))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"job_id":"j","mess')
    with JsonlFileSink(path) as sink:
        sink.emit(progress(20))
    assert read_events(path) == [progress(10), progress(20)]


@pytest.mark.parametrize(
    ("kept", "torn"),
    [
        (b"", b""),
        (b"{}\n", b""),
        (b"{}\n", b'{"ty'),
        (b"", b"no newline at all"),
        (b"{}\n" * 3, b"x" * 200_000),
        (b"y" * 150_000 + b"\n", b"z" * 70_000),
    ],
)
def test_cut_torn_line_keeps_every_whole_line(tmp_path: Path, kept: bytes, torn: bytes) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(kept + torn)
    assert cut_torn_line(path) == len(kept)
    assert path.read_bytes() == kept
    assert cut_torn_line(tmp_path / "missing.jsonl") == 0
    assert not (tmp_path / "missing.jsonl").exists()


def test_file_sink_refuses_events_after_close(tmp_path: Path) -> None:
    sink = JsonlFileSink(tmp_path / "events.jsonl")
    sink.close()
    with pytest.raises(ModelTrainerError, match=r"is closed; cannot write trainer\.job\.progress"):
        sink.emit(progress(5))
    assert read_events(tmp_path / "events.jsonl") == []


def test_file_sink_writes_nothing_for_an_event_that_cannot_be_encoded(tmp_path: Path) -> None:
    bad = make_eval_event(
        job_id="j",
        user_id=1,
        epoch=1,
        global_step=1,
        val_loss=math.nan,
        val_perplexity=1.0,
        loss_unit="token",
    )
    with JsonlFileSink(tmp_path / "events.jsonl") as sink:
        with pytest.raises(EventEncodeError, match="field 'val_loss'"):
            sink.emit(bad)
        sink.emit(progress(1))
    assert read_events(tmp_path / "events.jsonl") == [progress(1)]


def test_file_sink_from_four_threads_writes_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlFileSink(path)
    start = threading.Barrier(4)

    def emit_all(job_id: str) -> None:
        start.wait()
        for step in range(250):
            sink.emit(progress(step % 101, job_id=job_id))

    threads = [threading.Thread(target=emit_all, args=(f"job-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.close()
    events = read_events(path)
    assert len(events) == 1000
    for n in range(4):
        mine = [event for event in events if event["job_id"] == f"job-{n}"]
        assert mine == [progress(step % 101, job_id=f"job-{n}") for step in range(250)]


def test_file_sink_that_cannot_open_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ModelTrainerError, match=r"not-a-folder/events.jsonl: in the way") as raised:
        JsonlFileSink(blocker / "events.jsonl")
    assert raised.value.code == "ARTIFACT_UPLOAD_FAILED"


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (a device that is full)")
def test_file_sink_that_cannot_write_names_the_path() -> None:
    sink = JsonlFileSink(DEV_FULL)
    with pytest.raises(ModelTrainerError, match="cannot write /dev/full: no space left") as raised:
        sink.emit(progress(1))
    assert raised.value.code == "ARTIFACT_UPLOAD_FAILED"
    with pytest.raises(ModelTrainerError, match="cannot write /dev/full: no space left"):
        sink.close()
    sink.close()


def test_fanout_passes_each_event_to_every_sink_and_closes_them(tmp_path: Path) -> None:
    listed = ListSink()
    called: list[Event] = []
    path = tmp_path / "events.jsonl"
    sinks: list[EventSink] = [listed, CallbackSink(called.append), JsonlFileSink(path)]
    fanout = FanoutSink(sinks)
    events = [progress(0), progress(100)]
    for event in events:
        fanout.emit(event)
    fanout.close()
    assert listed.events == called == read_events(path) == events
    with pytest.raises(ModelTrainerError, match="is closed"):
        fanout.emit(progress(1))
    assert listed.events == [*events, progress(1)]

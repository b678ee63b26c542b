from __future__ import annotations

import json
import threading
import time
from collections import UserList
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import make_progress_event
from model_trainer.core.events.sinks import ListSink
from model_trainer.core.jobs.runner import JobControl, JobHandle, JobState, json_size


class Outcome(TypedDict):
    value: int
    cancelled: bool


def _counting(control: JobControl) -> Outcome:
    control.emit(
        make_progress_event(
            job_id=control.job_id, user_id=control.user_id, progress=50, message="half"
        )
    )
    return {"value": 42, "cancelled": False}


def _types(handle: JobHandle[Outcome]) -> list[str]:
    return [event["type"] for event in handle.events]


def test_completed_job_records_events_and_returns_outcome(tmp_path: Path) -> None:
    sink = ListSink()
    states: list[tuple[JobState, ModelTrainerError | None]] = []
    handle = JobHandle(
        kind="score",
        job_id="job-1",
        run_id="run-1",
        run_dir=str(tmp_path),
        work=_counting,
        sinks=[sink],
        events_path=str(tmp_path / "events.jsonl"),
        result_id=lambda outcome: f"value-{outcome['value']}",
        on_state=lambda state, error: states.append((state, error)),
        user_id=7,
    )
    initial = handle.state
    assert initial == "queued"
    assert handle.start() is handle
    assert handle.wait(10.0)
    assert handle.done()
    assert handle.state == "completed"
    assert handle.result() == {"value": 42, "cancelled": False}
    assert handle.error is None
    assert handle.prepared is None
    assert states == [("running", None), ("completed", None)]
    assert _types(handle) == [
        "trainer.job.started.v1",
        "trainer.job.progress.v1",
        "trainer.job.completed.v1",
    ]
    assert sink.events == handle.events
    assert read_events(tmp_path / "events.jsonl") == handle.events
    started, _, completed = handle.events
    assert started == {
        **started,
        "kind": "score",
        "run_id": "run-1",
        "user_id": 7,
        "job_id": "job-1",
        "queue": "local",
    }
    assert completed == {
        **completed,
        "result_id": "value-42",
        "result_bytes": len('{"value": 42, "cancelled": false}'),
    }


def test_result_id_defaults_to_the_job_id() -> None:
    handle = JobHandle(kind="eval", job_id="job-2", run_id="", run_dir="", work=_counting)
    handle.start().result()
    assert handle.events[-1] == {**handle.events[-1], "result_id": "job-2"}


def test_error_of_the_work_is_recorded_and_raised_again(tmp_path: Path) -> None:
    error = ModelTrainerError("CORPUS_NOT_FOUND", "corpus_path: no file at 'x'")

    def work(control: JobControl) -> Outcome:
        raise error

    states: list[tuple[JobState, ModelTrainerError | None]] = []
    handle = JobHandle(
        kind="train",
        job_id="j",
        run_id="r",
        run_dir="",
        work=work,
        on_state=lambda state, err: states.append((state, err)),
    )
    handle.start()
    with pytest.raises(ModelTrainerError) as raised:
        handle.result()
    assert raised.value is error
    assert handle.state == "failed"
    assert handle.error is error
    assert states == [("running", None), ("failed", error)]
    failed = handle.events[-1]
    assert failed == {
        **failed,
        "type": "trainer.job.failed.v1",
        "code": "CORPUS_NOT_FOUND",
        "error_kind": "user",
        "message": "corpus_path: no file at 'x'",
    }


@pytest.mark.parametrize(
    ("exc", "message"),
    [(ValueError("bad value"), "ValueError: bad value"), (SystemExit(3), "SystemExit: 3")],
)
def test_unexpected_exception_is_an_internal_system_error(exc: BaseException, message: str) -> None:
    def work(control: JobControl) -> Outcome:
        raise exc

    handle = JobHandle(kind="generate", job_id="j", run_id="r", run_dir="", work=work).start()
    with pytest.raises(ModelTrainerError) as raised:
        handle.result()
    assert raised.value.code == "INTERNAL_ERROR"
    assert raised.value.message == message
    assert raised.value.__cause__ is exc
    assert handle.state == "failed"
    failed = handle.events[-1]
    assert failed == {**failed, "code": "INTERNAL_ERROR", "error_kind": "system"}


def test_cancelled_error_ends_cancelled() -> None:
    def work(control: JobControl) -> Outcome:
        raise ModelTrainerError("TRAINING_CANCELLED", "stopped before the first step")

    handle = JobHandle(kind="train", job_id="j", run_id="r", run_dir="", work=work).start()
    with pytest.raises(ModelTrainerError, match="TRAINING_CANCELLED"):
        handle.result()
    assert handle.state == "cancelled"


def test_cancel_stops_the_work_and_result_returns_its_outcome() -> None:
    running = threading.Event()

    def work(control: JobControl) -> Outcome:
        running.set()
        steps = 0
        while not control.cancelled():
            steps += 1
            running.wait(0.001)
        return {"value": steps, "cancelled": True}

    states: list[tuple[JobState, ModelTrainerError | None]] = []
    handle = JobHandle(
        kind="train",
        job_id="j",
        run_id="r",
        run_dir="",
        work=work,
        cancel_message=lambda outcome: "cancelled by user" if outcome["cancelled"] else None,
        on_state=lambda state, err: states.append((state, err)),
    )
    handle.start()
    assert running.wait(10.0)
    assert not handle.wait(0.01)
    assert not handle.cancel_requested()
    handle.cancel()
    assert handle.cancel_requested()
    outcome = handle.result()
    assert outcome["cancelled"]
    assert handle.state == "cancelled"
    assert handle.error is not None
    assert handle.error.code == "TRAINING_CANCELLED"
    assert [state for state, _ in states] == ["running", "cancelled"]
    assert _types(handle) == ["trainer.job.started.v1", "trainer.job.failed.v1"]
    failed = handle.events[-1]
    assert failed == {
        **failed,
        "code": "TRAINING_CANCELLED",
        "error_kind": "user",
        "message": "cancelled by user",
    }


def test_outcome_that_was_not_cancelled_completes() -> None:
    handle = JobHandle(
        kind="train",
        job_id="j",
        run_id="r",
        run_dir="",
        work=_counting,
        cancel_message=lambda outcome: "cancelled" if outcome["cancelled"] else None,
    ).start()
    assert handle.result()["value"] == 42
    assert handle.state == "completed"


class ShowCounter:
    """A view that counts how often it was shown."""

    def __init__(self) -> None:
        self.shown = 0

    def show(self) -> None:
        self.shown += 1


def test_show_shows_the_view_again_and_without_one_says_how_to_draw_curves() -> None:
    handle = JobHandle(kind="eval", job_id="job-3", run_id="", run_dir="", work=_counting)
    with pytest.raises(ModelTrainerError) as caught:
        handle.show()
    assert caught.value.code == "INVALID_CONFIG"
    assert caught.value.message == (
        "job 'job-3' was started with show=False, so it has no live view; "
        "show_curves(job) draws its curves as they are now"
    )
    view = ShowCounter()
    handle.view = view
    handle.show()
    handle.show()
    assert view.shown == 2


class ViewSink(ListSink):
    """A view that records the events it is given and how often it was shown."""

    def __init__(self, stop: Callable[[], None]) -> None:
        super().__init__()
        self.stop = stop
        self.shown = 0

    def show(self) -> None:
        self.shown += 1


def test_the_view_is_made_before_the_start_and_sees_every_event() -> None:
    views: list[ViewSink] = []

    def make_view(stop: Callable[[], None]) -> ViewSink:
        views.append(ViewSink(stop))
        return views[-1]

    handle = JobHandle(
        kind="train", job_id="j", run_id="r", run_dir="", work=_counting, view=make_view
    )
    (view,) = views
    assert handle.view is view
    assert handle.state == "queued"
    handle.start().result()
    assert view.events == handle.events
    assert _types(handle)[0] == "trainer.job.started.v1"
    handle.show()
    assert view.shown == 1
    view.stop()
    assert handle.cancel_requested()


def test_a_job_that_forwards_events_announces_nothing_itself() -> None:
    forwarded = make_progress_event(job_id="j", user_id=0, progress=50, message="half", ts=1.0)

    def forward(control: JobControl) -> Outcome:
        control.emit(forwarded)
        return {"value": 1, "cancelled": control.cancelled()}

    done = JobHandle(kind="train", job_id="j", run_id="r", run_dir="", work=forward, announce=False)
    assert done.start().result() == {"value": 1, "cancelled": False}
    assert (done.state, done.events) == ("completed", [forwarded])

    def fail(control: JobControl) -> Outcome:
        control.emit(forwarded)
        raise ModelTrainerError("TRAINING_NAN_LOSS", "nan at step 3")

    failed = JobHandle(kind="train", job_id="j", run_id="r", run_dir="", work=fail, announce=False)
    with pytest.raises(ModelTrainerError):
        failed.start().result()
    assert (failed.state, failed.events) == ("failed", [forwarded])

    stopped = JobHandle(
        kind="train",
        job_id="j",
        run_id="r",
        run_dir="",
        work=forward,
        announce=False,
        cancel_message=lambda outcome: "stopped" if outcome["cancelled"] else None,
    )
    stopped.cancel()
    assert stopped.start().result()["cancelled"]
    assert (stopped.state, stopped.events) == ("cancelled", [forwarded])


def test_on_cancel_calls_its_stop_once_at_the_cancel_or_at_once_after_it() -> None:
    registered = threading.Event()
    release = threading.Event()
    stops: list[str] = []

    def work(control: JobControl) -> Outcome:
        control.on_cancel(lambda: stops.append("stop"))
        registered.set()
        release.wait(10.0)
        return {"value": 0, "cancelled": True}

    handle = JobHandle(kind="train", job_id="j", run_id="r", run_dir="", work=work).start()
    assert registered.wait(10.0)
    assert stops == []
    handle.cancel()
    handle.cancel()
    assert stops == ["stop"]
    release.set()
    handle.result()

    late: list[str] = []

    def late_work(control: JobControl) -> Outcome:
        control.on_cancel(lambda: late.append("stop"))
        return {"value": 0, "cancelled": True}

    early = JobHandle(kind="train", job_id="j", run_id="r", run_dir="", work=late_work)
    early.cancel()
    early.start().result()
    assert late == ["stop"]


def test_events_emitted_from_several_threads_reach_every_sink_in_the_history_order() -> None:
    class SlowSink(ListSink):
        def emit(self, event: Event) -> None:
            time.sleep(0)  # let another thread run between two events' sinks
            super().emit(event)

    first, second = SlowSink(), ListSink()

    def work(control: JobControl) -> Outcome:
        def emit_many(name: str) -> None:
            for step in range(100):
                control.emit(
                    make_progress_event(
                        job_id=control.job_id, user_id=0, progress=step, message=name
                    )
                )

        threads = [threading.Thread(target=emit_many, args=(name,)) for name in "abc"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {"value": 0, "cancelled": False}

    handle = JobHandle(
        kind="sweep", job_id="s", run_id="", run_dir="", work=work, sinks=[first, second]
    )
    handle.start().result()
    assert len(handle.events) == 302
    assert first.events == handle.events
    assert second.events == handle.events


def test_json_size_counts_the_bytes_json_dumps_writes() -> None:
    values: list[object] = [
        {},
        [],
        {"a": [1, 2.5, None], "é": "ü", "nested": {"x": True}},
        ("t", 1),
        UserList(range(10_000)),
        UserList([]),
    ]
    for value in values:
        shown = list(value) if isinstance(value, UserList) else value
        assert json_size(value) == len(json.dumps(shown).encode("utf-8"))

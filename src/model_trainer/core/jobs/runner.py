"""Jobs on a background thread, and the handle a caller keeps to watch, stop and read one.

The job boundary is the one place that catches broadly: a ``ModelTrainerError`` is recorded
with its code, an ``OSError`` (a fault of the machine) as ``machine_fault`` says, any other
exception as ``INTERNAL_ERROR`` (a system error), and
``JobHandle.result`` raises the recorded error again. A job whose outcome says it was
cancelled ends ``cancelled`` with a ``TRAINING_CANCELLED`` failed event, and ``result``
returns that outcome (its history and checkpoint are kept).

A handle takes its view before it starts (``view``), so the view sees every event. A job
whose work forwards the events of another process (a torchrun launch) sets ``announce``
False: the handle then emits no started or end event of its own, the forwarded ones being
the job's.

A sink other than the job's event file that raises a ``ModelTrainerError`` (a TensorBoard
folder blocked by a file) is switched off with a ``trainer.job.progress.v1`` warning
(``make_warning_event``, ``payload["warning"] == "sink_off"``) and the job goes on.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, Literal, Protocol, TypeVar

from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.errors import ModelTrainerError, user_error
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import (
    JobKind,
    JobProgressV1,
    is_job_progress,
    make_completed_event,
    make_failed_event,
    make_started_event,
    make_warning_event,
)
from model_trainer.core.events.sinks import EventSink, JsonlFileSink
from model_trainer.core.faults import machine_fault
from model_trainer.core.jobs.evolution import evolution_by_epoch
from model_trainer.core.jobs.report import EvolutionView

JobState = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL_STATES: tuple[JobState, ...] = ("completed", "failed", "cancelled")

OutcomeT = TypeVar("OutcomeT")

StateHook = Callable[[JobState, ModelTrainerError | None], None]


JSON_CHUNK = 4096


def json_size(value: object) -> int:
    """The bytes of ``json.dumps(value)``, without ever holding all of a long sequence's text.

    A sequence other than a list or tuple (``CharScores``) is encoded a slice at a time.
    """
    if isinstance(value, Mapping):
        items = [len(json.dumps(str(key))) + 2 + json_size(item) for key, item in value.items()]
        return 2 + sum(items) + 2 * max(len(items) - 1, 0)
    if isinstance(value, Sequence) and not isinstance(value, str | list | tuple):
        parts = [
            len(json.dumps(list(value[first : first + JSON_CHUNK])).encode("utf-8")) - 2
            for first in range(0, len(value), JSON_CHUNK)
        ]
        return 2 + sum(parts) + 2 * max(len(parts) - 1, 0)
    return len(json.dumps(value).encode("utf-8"))


class View(Protocol):
    """What shows a job to a person: the live panel, or the console's text bar."""

    def show(self) -> None:
        """Show the job again, with its whole history so far."""


class ViewSink(View, EventSink, Protocol):
    """A view that is also the sink of the job's events (the panel, the console)."""


ViewFactory = Callable[[Callable[[], None]], ViewSink]
"""Makes a job's view from the job's ``cancel`` (the view's Stop button calls it)."""


class Viewable:
    """A job that may carry the view its caller opened on it (``train(show=True)``)."""

    job_id: str
    view: View | None = None

    def show(self) -> None:
        """Show the job's live view again, its whole history redrawn (e.g. after a reload).

        Raises:
            ModelTrainerError: ``INVALID_CONFIG`` when the job was started without a view.
        """
        if self.view is None:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"job {self.job_id!r} was started with show=False, so it has no live view; "
                f"show_curves(job) draws its curves as they are now",
            )
        self.view.show()


def new_job_id(kind: JobKind, run_id: str = "") -> str:
    """``<kind>-<run id>-<8 hex>`` (or ``<kind>-<8 hex>``): the id of a job besides training."""
    parts = [kind, run_id, secrets.token_hex(4)] if run_id else [kind, secrets.token_hex(4)]
    return "-".join(parts)


class JobControl:
    """What a job's work sees of its job: emit events, check for a cancel, share the model."""

    def __init__(
        self,
        *,
        job_id: str,
        user_id: int,
        emit: Callable[[Event], None],
        cancel_event: threading.Event,
        set_prepared: Callable[[PreparedLMModel], None],
        on_cancel: Callable[[Callable[[], None]], None],
    ) -> None:
        self.job_id = job_id
        self.user_id = user_id
        self._emit = emit
        self._cancel_event = cancel_event
        self._set_prepared = set_prepared
        self._on_cancel = on_cancel

    def emit(self, event: Event) -> None:
        """Record an event in the job's history and pass it to every sink.

        Safe from several threads at once (a sweep's trials): one event at a time goes to
        the history and to every sink, so each sink sees the history's order.
        """
        self._emit(event)

    def cancelled(self) -> bool:
        """Whether ``cancel`` was called on the job's handle."""
        return self._cancel_event.is_set()

    def set_prepared(self, prepared: PreparedLMModel) -> None:
        """Make the job's model available as ``JobHandle.prepared``."""
        self._set_prepared(prepared)

    def on_cancel(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` once when the job is cancelled (at once when it already is)."""
        self._on_cancel(stop)


class JobHandle(Viewable, Generic[OutcomeT]):
    """A job and its state; ``start`` runs its work on a daemon thread.

    Args:
        kind: what the job does.
        job_id: the id its events carry.
        run_id: the run it belongs to ("" for a job without a run).
        run_dir: that run's folder ("" for a job without a run).
        work: the job itself; it runs on the job's thread (kept as ``work``).
        sinks: where its events go besides its history (the caller owns them).
        view: makes the job's view from its ``cancel``; the view gets every event too.
        events_path: a JSON-lines file to append its events to; opened here, closed at the end.
        cancel_message: the message of a ``TRAINING_CANCELLED`` record when an outcome says
            the work was cancelled, else None.
        result_id: what the completed event names as the result.
        on_state: called on the job's thread at every change of state, before its event.
        user_id: the user its events carry.
        announce: whether the handle emits the job's started and end events (False when
            the work forwards those of the process that runs the job).
        on_end: called on the job's thread after its last event, before ``wait`` returns.
    """

    def __init__(
        self,
        *,
        kind: JobKind,
        job_id: str,
        run_id: str,
        run_dir: str,
        work: Callable[[JobControl], OutcomeT],
        sinks: Sequence[EventSink] = (),
        view: ViewFactory | None = None,
        events_path: str | None = None,
        cancel_message: Callable[[OutcomeT], str | None] | None = None,
        result_id: Callable[[OutcomeT], str] | None = None,
        on_state: StateHook | None = None,
        user_id: int = 0,
        announce: bool = True,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.kind: JobKind = kind
        self.job_id = job_id
        self.run_id = run_id
        self.run_dir = run_dir
        self.user_id = user_id
        self.work = work
        self._announce = announce
        shown = None if view is None else view(self.cancel)
        self.view = shown
        self._file_sink = None if events_path is None else JsonlFileSink(events_path)
        watchers = (*sinks, *(() if shown is None else (shown,)))
        self._sinks: tuple[EventSink, ...] = (
            watchers if self._file_sink is None else (*watchers, self._file_sink)
        )
        self._cancel_message = cancel_message
        self._result_id = result_id
        self._on_state = on_state
        self._on_end = on_end
        self._lock = threading.Lock()
        self._emitting = threading.RLock()
        self._events: list[Event] = []
        self._progress = 0
        self._state: JobState = "queued"
        self._end: tuple[OutcomeT] | ModelTrainerError = ModelTrainerError(
            "INTERNAL_ERROR", f"job {job_id} ended without an outcome"
        )
        self._error: ModelTrainerError | None = None
        self._prepared: PreparedLMModel | None = None
        self._cancel_event = threading.Event()
        self._stops: list[Callable[[], None]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"model-trainer-{kind}-{job_id}", daemon=True
        )

    @property
    def state(self) -> JobState:
        """``queued``, ``running``, ``completed``, ``failed`` or ``cancelled``."""
        with self._lock:
            return self._state

    @property
    def events(self) -> list[Event]:
        """Every event of this job so far, in order (a copy)."""
        with self._lock:
            return list(self._events)

    def show_evolution(self) -> EvolutionView:
        """The samples and probe heatmaps of this job's epochs so far, side by side."""
        return EvolutionView(evolution_by_epoch(self.events))

    @property
    def prepared(self) -> PreparedLMModel | None:
        """The job's model once it has one (a train job's after ``prepare``)."""
        with self._lock:
            return self._prepared

    @property
    def error(self) -> ModelTrainerError | None:
        """The error the job was recorded with (``TRAINING_CANCELLED`` after a cancel)."""
        with self._lock:
            return self._error

    def start(self) -> JobHandle[OutcomeT]:
        """Run the job on its thread; returns the handle at once."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next step; a finished job is left as it is."""
        with self._lock:
            first = not self._cancel_event.is_set()
            self._cancel_event.set()
            stops = list(self._stops) if first else []
        for stop in stops:
            stop()

    def cancel_requested(self) -> bool:
        """Whether ``cancel`` was called."""
        return self._cancel_event.is_set()

    def done(self) -> bool:
        """Whether the job has finished, whatever its end."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends or ``timeout`` seconds pass; True when it has ended."""
        return self._done.wait(timeout)

    def result(self) -> OutcomeT:
        """Wait for the job, then return its outcome or raise its error again.

        A cancelled train job returns its outcome (``cancelled`` is True); the
        ``TRAINING_CANCELLED`` code is in its failed event and in ``job.json``.
        """
        self._done.wait()
        with self._lock:
            end = self._end
        if isinstance(end, ModelTrainerError):
            raise end
        return end[0]

    def _emit(self, event: Event) -> None:
        with self._emitting:
            with self._lock:
                self._events.append(event)
                if is_job_progress(event):
                    self._progress = event["progress"]
            for sink in self._sinks:
                self._deliver(sink, event)

    def _deliver(self, sink: EventSink, event: Event) -> None:
        """Hand ``event`` to ``sink``; a watcher that fails is switched off with a warning.

        The run goes on without it; a failing event file fails the job (it is the record).
        """
        if sink is self._file_sink:
            sink.emit(event)
            return
        try:
            sink.emit(event)
        except ModelTrainerError as exc:
            self._sinks = tuple(other for other in self._sinks if other is not sink)
            self._emit(self._sink_off(sink, exc))

    def _sink_off(self, sink: EventSink, error: ModelTrainerError) -> JobProgressV1:
        name = type(sink).__name__
        return make_warning_event(
            job_id=self.job_id,
            user_id=self.user_id,
            progress=self._progress,
            warning="sink_off",
            code=error.code,
            message=f"{name} switched off, the run goes on: {error.message}",
            details={"sink": name},
        )

    def _on_cancel(self, stop: Callable[[], None]) -> None:
        with self._lock:
            self._stops.append(stop)
            now = self._cancel_event.is_set()
        if now:
            stop()

    def _share(self, prepared: PreparedLMModel) -> None:
        with self._lock:
            self._prepared = prepared

    def _set_state(self, state: JobState, error: ModelTrainerError | None) -> None:
        with self._lock:
            self._state = state
            self._error = error
            if error is not None and not isinstance(self._end, tuple):
                self._end = error
        if self._on_state is not None:
            self._on_state(state, error)

    def _run(self) -> None:
        control = JobControl(
            job_id=self.job_id,
            user_id=self.user_id,
            emit=self._emit,
            cancel_event=self._cancel_event,
            set_prepared=self._share,
            on_cancel=self._on_cancel,
        )
        try:
            self._set_state("running", None)
            if self._announce:
                self._emit(
                    make_started_event(
                        job_id=self.job_id,
                        user_id=self.user_id,
                        kind=self.kind,
                        run_id=self.run_id,
                    )
                )
            outcome = self.work(control)
        except ModelTrainerError as exc:
            self._fail(exc)
        except OSError as exc:
            self._fail(machine_fault(exc))
        except BaseException as exc:
            error = ModelTrainerError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
            error.__cause__ = exc
            self._fail(error)
        else:
            self._finish(outcome)
        finally:
            if self._file_sink is not None:
                self._file_sink.close()
            if self._on_end is not None:
                self._on_end()
            self._done.set()

    def _fail(self, error: ModelTrainerError) -> None:
        """Record ``error`` as the job's end.

        When the run folder refuses the record too (a full disk), the error says so and
        stays the job's end in memory.
        """
        state: JobState = "cancelled" if error.code == "TRAINING_CANCELLED" else "failed"
        try:
            self._record_failure(state, error)
        except ModelTrainerError as unrecorded:
            kept = ModelTrainerError(
                error.code, f"{error.message} (not recorded: {unrecorded.message})"
            )
            with self._lock:
                self._state, self._error = state, kept
                if not isinstance(self._end, tuple):
                    self._end = kept

    def _record_failure(self, state: JobState, error: ModelTrainerError) -> None:
        self._set_state(state, error)
        if not self._announce:
            return
        self._emit(
            make_failed_event(
                job_id=self.job_id,
                user_id=self.user_id,
                error_kind="user" if user_error(error.code) else "system",
                code=error.code,
                message=error.message,
            )
        )

    def _finish(self, outcome: OutcomeT) -> None:
        with self._lock:
            self._end = (outcome,)
        message = None if self._cancel_message is None else self._cancel_message(outcome)
        if message is not None:
            self._fail(ModelTrainerError("TRAINING_CANCELLED", message))
            return
        try:
            self._record_completion(outcome)
        except ModelTrainerError as unrecorded:
            self._fail(unrecorded)

    def _record_completion(self, outcome: OutcomeT) -> None:
        self._set_state("completed", None)
        if not self._announce:
            return
        self._emit(
            make_completed_event(
                job_id=self.job_id,
                user_id=self.user_id,
                result_id=self.job_id if self._result_id is None else self._result_id(outcome),
                result_bytes=json_size(outcome),
            )
        )

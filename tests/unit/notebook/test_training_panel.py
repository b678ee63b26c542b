import io
import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping

import IPython.display

from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import (
    make_completed_event,
    make_failed_event,
    make_progress_event,
    make_started_event,
)
from model_trainer.core.events.trainer_metrics_events import (
    make_completed_metrics_event,
    make_config_event,
    make_epoch_event,
    make_progress_metrics_event,
)
from model_trainer.notebook.console import ConsoleSink
from model_trainer.notebook.panel import (
    DRAW_BUDGET,
    MAX_CHART_GAP_S,
    TrainingPanel,
    make_training_sink,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Recorder:
    """A display function with IPython's signature that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, str | None, bool]] = []

    def __call__(self, obj: object, *, display_id: str | None = None, update: bool = False) -> None:
        self.calls.append((obj, display_id, update))

    def of_type(self, kind: type) -> list[tuple[object, str | None, bool]]:
        return [call for call in self.calls if isinstance(call[0], kind)]


def _progress(step: int, *, per_epoch: int, epochs: int) -> Event:
    return make_progress_metrics_event(
        job_id="j",
        user_id=1,
        epoch=(step - 1) // per_epoch + 1,
        total_epochs=epochs,
        step=step,
        steps_per_epoch=per_epoch,
        loss=5.0 / (1.0 + step / 300.0),
        tokens_per_second=50_000.0,
        learning_rate=1e-3,
        elapsed_s=step * 0.001,
        ts=0.0,
    )


def _epoch(epoch: int, *, per_epoch: int, epochs: int) -> Event:
    step = epoch * per_epoch
    return make_epoch_event(
        job_id="j",
        user_id=1,
        epoch=epoch,
        total_epochs=epochs,
        global_step=step,
        elapsed_s=step * 0.001,
        train_loss=5.0 / (1.0 + step / 300.0),
        train_perplexity=1.0,
        val_loss=5.2 / (1.0 + step / 300.0),
        val_perplexity=1.0,
        tokens_per_second=50_000.0,
        learning_rate=1e-3,
        loss_unit="token",
        ts=0.0,
    )


def _config(*, per_epoch: int, epochs: int) -> Event:
    return make_config_event(
        job_id="j",
        user_id=1,
        model_family="gpt2",
        model_size="tiny",
        total_epochs=epochs,
        steps_per_epoch=per_epoch,
        chars_per_token=3.0,
        loss_unit="token",
        ts=0.0,
    )


def _cancelled() -> Event:
    return make_failed_event(
        job_id="j",
        user_id=1,
        error_kind="user",
        code="TRAINING_CANCELLED",
        message="stopped at step 3",
        ts=0.0,
    )


def test_a_fast_feed_from_a_thread_redraws_at_most_twice_a_second() -> None:
    per_epoch, epochs = 667, 3
    recorder = Recorder()
    panel = TrainingPanel(lambda: None, display=recorder, min_redraw_s=0.5)
    labels: list[str] = []
    frames: list[bytes] = []

    def on_label(change: Mapping[str, object]) -> None:
        labels.append(str(change["new"]))

    def on_frame(change: Mapping[str, object]) -> None:
        frames.append(panel.image.value)

    panel.progress_label.observe(on_label, names="value")
    panel.image.observe(on_frame, names="value")
    elapsed: list[float] = []

    def feed() -> None:
        start = time.perf_counter()
        panel.emit(_config(per_epoch=per_epoch, epochs=epochs))
        for step in range(1, per_epoch * epochs + 1):
            time.sleep(0.001)
            panel.emit(_progress(step, per_epoch=per_epoch, epochs=epochs))
            if step % per_epoch == 0:
                panel.emit(_epoch(step // per_epoch, per_epoch=per_epoch, epochs=epochs))
        panel.emit(
            make_completed_metrics_event(
                job_id="j", user_id=1, loss=1.0, perplexity=2.7, artifact_path="m", ts=0.0
            )
        )
        panel.emit(make_completed_event(job_id="j", user_id=1, result_id="m", result_bytes=1))
        elapsed.append(time.perf_counter() - start)

    thread = threading.Thread(target=feed)
    thread.start()
    thread.join(timeout=60.0)
    assert not thread.is_alive()
    panel.close()  # joins the render thread, which has drawn the end
    (seconds,) = elapsed
    assert seconds >= 2.0
    # One frame at the first event, then at most one per 0.5 s after the end of the last
    # and at least one per MAX_CHART_GAP_S (plus up to a second a frame on a loaded machine),
    # and the final frame. Every epoch shows in the labels, drawn between frames.
    assert 2 + int(seconds // (MAX_CHART_GAP_S + 1.0)) <= panel.redraws <= seconds / 0.5 + 2
    assert len(frames) == panel.redraws
    epochs_drawn = {int(m.group(1)) for m in map(re.compile(r"epoch (\d)/3").search, labels) if m}
    assert {1, 2, 3} <= epochs_drawn
    assert labels[-1].startswith("step 2001/2001 · epoch 3/3 · 50.0k tok/s")
    assert panel.status == "completed"
    final = panel.final_png
    assert final is not None
    assert final.startswith(PNG_MAGIC)
    assert panel.image.value == final
    (picture,) = recorder.of_type(IPython.display.Image)
    (table,) = recorder.of_type(IPython.display.HTML)
    assert isinstance(picture[0], IPython.display.Image)
    assert picture[0].data == final
    assert isinstance(table[0], IPython.display.HTML)
    assert "final metrics" in table[0].data
    assert ">m</td>" in table[0].data
    assert (picture[1], table[1]) == (None, None)


def test_emit_costs_microseconds_between_redraws() -> None:
    panel = TrainingPanel(lambda: None, display=Recorder(), min_redraw_s=3600.0, background=False)
    panel.emit(_config(per_epoch=10_000, epochs=2))
    panel.flush()
    events = [_progress(step, per_epoch=10_000, epochs=2) for step in range(1, 20_001)]
    start = time.perf_counter()
    for event in events:
        panel.emit(event)
    per_event = (time.perf_counter() - start) / len(events)
    panel.flush()
    assert panel.redraws == 1
    assert per_event < 100e-6


def test_the_training_thread_never_waits_for_a_frame() -> None:
    entered, gate = threading.Event(), threading.Event()
    shown: list[object] = []

    def slow_display(obj: object, *, display_id: str | None = None, update: bool = False) -> None:
        entered.set()
        assert gate.wait(30.0)
        shown.append(obj)

    panel = TrainingPanel(lambda: None, display=slow_display)
    panel.emit(_cancelled())
    # The render thread is now inside the end's display, holding the frame.
    assert entered.wait(30.0)
    start = time.perf_counter()
    panel.emit(make_completed_event(job_id="j", user_id=1, result_id="m", result_bytes=1))
    assert time.perf_counter() - start < 0.05
    assert panel.status == "completed"
    gate.set()
    panel.close()
    assert [type(obj) for obj in shown] == [IPython.display.Image, IPython.display.HTML]
    assert panel.status_label.value == "status: completed"


def test_stop_calls_on_stop_once_and_the_status_says_stopping() -> None:
    stops: list[str] = []
    panel = TrainingPanel(lambda: stops.append("stop"), display=Recorder(), background=False)
    panel.emit(make_started_event(job_id="j", user_id=1, kind="train", run_id="r", ts=0.0))
    assert panel.status == "running"
    assert panel.stop_button.description == "Stop"
    panel.stop_button.click()
    assert stops == ["stop"]
    assert panel.status == "stopping…"
    assert panel.status_label.value == "status: stopping…"
    assert panel.stop_button.disabled
    assert panel.stop_button.description == "Stopping…"
    panel.emit(make_progress_event(job_id="j", user_id=1, progress=50, message="saving"))
    assert panel.status == "stopping…"
    panel.stop_button.click()
    assert stops == ["stop"]
    panel.emit(_cancelled())
    panel.flush()
    assert panel.status == "cancelled: stopped at step 3"
    assert panel.bar.bar_style == "warning"
    panel.stop_button.click()
    assert stops == ["stop"]


def test_show_reserves_the_final_outputs_and_the_end_fills_them(
    run_events: list[Event],
) -> None:
    recorder = Recorder()
    panel = TrainingPanel(
        lambda: None,
        display=recorder,
        title="demo <run>",
        min_redraw_s=0.0,
        clock=lambda: 0.0,
        background=False,
    )
    panel.show()
    assert panel.redraws == 1
    widget, table_slot = recorder.calls
    assert widget[0] is panel.widget
    assert isinstance(table_slot[0], IPython.display.HTML)
    assert table_slot[0].data == ""
    assert widget[1] is not None
    assert table_slot[1] is not None
    assert widget[1] != table_slot[1]
    assert not widget[2]
    assert not table_slot[2]
    assert panel.title_label.value == "<b>demo &lt;run&gt;</b>"
    assert panel.final_png is None
    panel.show()
    # Shown again (a reload): the widget and the table's slot once more, under the same ids.
    assert recorder.calls[2:] == [widget, (recorder.calls[3][0], table_slot[1], False)]
    assert panel.redraws == 2
    for event in run_events:
        panel.emit(event)
        panel.flush()
    assert panel.title_label.value == "<b>demo &lt;run&gt; gpt2/tiny</b>"
    # Every event but the two terminal ones was drawn, and the end once more, fitted to the run.
    assert panel.redraws == 2 + len(run_events) - 2 + 1
    # The end replaces the panel by the final picture and fills the table's slot.
    picture, table = recorder.calls[4:]
    assert isinstance(picture[0], IPython.display.Image)
    assert picture[0].data == panel.final_png
    assert picture[1:] == (widget[1], True)
    assert isinstance(table[0], IPython.display.HTML)
    assert table[1:] == (table_slot[1], True)
    assert "runs/r1/model" in table[0].data
    assert panel.progress_label.value == (
        "step 8/8 · epoch 2/2 · 2.0k tok/s · 00:04 elapsed · 00:00 left"
    )
    assert panel.bar.value == 1000
    assert panel.bar.bar_style == "success"
    assert panel.status == "completed"
    # Shown after the end: the picture and the table, no widget.
    recorder.calls.clear()
    panel._ipython_display_()
    assert [type(call[0]) for call in recorder.calls] == [
        IPython.display.Image,
        IPython.display.HTML,
    ]
    assert all(call[1:] == (None, False) for call in recorder.calls)
    assert panel.redraws == 2 + len(run_events) - 2 + 1


def test_the_unit_toggle_redraws_in_bits_per_char(run_events: list[Event]) -> None:
    panel = TrainingPanel(lambda: None, display=Recorder(), min_redraw_s=3600.0, background=False)
    for event in run_events[:6]:
        panel.emit(event)
        panel.flush()
    assert (panel.unit, panel.redraws) == ("nats_per_token", 1)
    before = panel.image.value
    panel.set_unit("bits_per_char")
    assert (panel.unit, panel.redraws) == ("bits_per_char", 2)
    assert panel.image.value != before
    panel.set_unit("bits_per_char")
    assert panel.redraws == 2
    panel.unit_toggle.value = "nats_per_token"
    assert (panel.unit, panel.redraws) == ("nats_per_token", 3)


def test_a_failure_shows_its_code_and_a_late_end_changes_only_the_status() -> None:
    recorder = Recorder()
    panel = TrainingPanel(lambda: None, display=recorder, min_redraw_s=3600.0, background=False)
    panel.emit(make_progress_event(job_id="j", user_id=1, progress=40, message="tokenizer"))
    panel.flush()
    assert panel.status == "running: tokenizer (40%)"
    panel.emit(
        make_failed_event(
            job_id="j",
            user_id=1,
            error_kind="system",
            code="TRAINING_NAN_LOSS",
            message="loss is nan at step 7",
            ts=0.0,
        )
    )
    panel.flush()
    assert panel.status == "failed: TRAINING_NAN_LOSS: loss is nan at step 7"
    assert panel.bar.bar_style == "danger"
    assert panel.redraws == 1
    assert len(recorder.of_type(IPython.display.Image)) == 1
    panel.emit(make_completed_event(job_id="j", user_id=1, result_id="m", result_bytes=1))
    assert panel.status == "completed"
    panel.flush()
    assert panel.status_label.value == "status: completed"
    assert panel.redraws == 1
    assert len(recorder.of_type(IPython.display.Image)) == 1


def test_the_end_of_a_run_never_drawn_draws_once() -> None:
    recorder = Recorder()
    panel = TrainingPanel(lambda: None, display=recorder, background=False)
    panel.emit(_cancelled())
    assert panel.final_png is None
    panel.flush()
    assert panel.redraws == 1
    assert panel.final_png is not None


def test_close_draws_what_is_pending_once(run_events: list[Event]) -> None:
    panel = TrainingPanel(lambda: None, display=Recorder(), min_redraw_s=3600.0, background=False)
    for event in run_events[:5]:
        panel.emit(event)
        panel.flush()
    assert panel.redraws == 1
    panel.close()
    assert panel.redraws == 2
    assert panel.stop_button.disabled
    panel.close()
    assert panel.redraws == 2


def test_a_flush_with_nothing_due_draws_nothing_and_close_draws_the_end() -> None:
    recorder = Recorder()
    panel = TrainingPanel(lambda: None, display=recorder, min_redraw_s=3600.0, background=False)
    panel.flush()
    panel.flush()
    assert panel.redraws == 1
    panel.emit(_cancelled())
    panel.close()
    assert panel.redraws == 1
    assert panel.final_png is not None
    assert [type(call[0]) for call in recorder.calls] == [
        IPython.display.Image,
        IPython.display.HTML,
    ]
    panel.flush()
    panel.close()
    assert (panel.redraws, len(recorder.calls)) == (1, 2)


def test_make_training_sink_picks_the_panel_or_the_console() -> None:
    recorder = Recorder()
    stops: list[int] = []
    panel = make_training_sink(lambda: stops.append(1), notebook=True, display=recorder)
    assert isinstance(panel, TrainingPanel)
    assert recorder.calls[0][0] is panel.widget
    panel.stop_button.click()
    assert stops == [1]
    stream = io.StringIO()
    console = make_training_sink(lambda: None, notebook=False, stream=stream)
    assert isinstance(console, ConsoleSink)
    console.emit(_config(per_epoch=2, epochs=1))
    assert stream.getvalue() == "gpt2/tiny: 1 epochs x 2 steps, loss in nats/token\n"
    assert isinstance(make_training_sink(lambda: None, stream=stream), ConsoleSink)


def test_slow_frames_stretch_the_interval_up_to_the_gap_epochs_included() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 0.25  # every read is a quarter second later: each frame "costs" that
        return now[0]

    def feeder(panel: TrainingPanel) -> Callable[[Event], None]:
        def feed(event: Event) -> None:
            panel.emit(event)
            panel.flush()  # as the render thread would, each time it wakes

        return feed

    panel = TrainingPanel(
        lambda: None, display=Recorder(), min_redraw_s=0.5, clock=clock, background=False
    )
    feed = feeder(panel)
    assert panel.drawing_s == 0.0
    feed(_config(per_epoch=4, epochs=3))
    assert panel.redraws == 1
    assert panel.drawing_s == 0.5  # two clock reads inside the frame: its cost
    for step in range(1, 5):
        feed(_progress(step, per_epoch=4, epochs=3))
    assert panel.redraws == 1  # the interval grew after a 0.5 s frame
    assert "step 3" in panel.progress_label.value  # the labels still moved
    drawn_at = now[0]
    feed(_epoch(1, per_epoch=4, epochs=3))
    step = 5
    while panel.redraws == 1 and step < 100:
        feed(_progress(step, per_epoch=4, epochs=3))
        step += 1
    # The epoch's frame counts in the budget, so it waits with the others: MAX_CHART_GAP_S,
    # not the 0.5 s frame's 50 s budget (one feed reads the clock a few times, a quarter
    # second each).
    assert panel.redraws == 2
    # (drawn_at was read a tick after the frame ended)
    assert MAX_CHART_GAP_S - 0.25 <= now[0] - drawn_at <= MAX_CHART_GAP_S + 2.0
    fast = TrainingPanel(
        lambda: None, display=Recorder(), min_redraw_s=50.0, clock=clock, background=False
    )
    feed = feeder(fast)
    feed(_config(per_epoch=4, epochs=3))
    feed(_epoch(1, per_epoch=4, epochs=3))
    feed(_progress(5, per_epoch=4, epochs=3))
    assert fast.redraws == 1  # epochs closer together than min_redraw_s share a frame
    assert "step 5" not in fast.progress_label.value


class SteppingClock:
    """A clock that moves ``tick`` seconds at each reading: a frame's own readings make it
    cost time, and the feed moves it on as training does."""

    def __init__(self, tick: float) -> None:
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_epoch_frames_count_in_the_drawing_budget() -> None:
    # Short epochs (one every 0.6 s) each ask for a frame; frames cost what the clock says.
    clock = SteppingClock(tick=0.004)
    panel = TrainingPanel(
        lambda: None, display=Recorder(), min_redraw_s=0.5, clock=clock, background=False
    )
    per_epoch, epochs = 60, 100
    panel.emit(_config(per_epoch=per_epoch, epochs=epochs))
    frames: list[float] = []
    for step in range(1, per_epoch * epochs + 1):
        clock.advance(0.01)
        panel.emit(_progress(step, per_epoch=per_epoch, epochs=epochs))
        if step % per_epoch == 0:
            panel.emit(_epoch(step // per_epoch, per_epoch=per_epoch, epochs=epochs))
        before = panel.redraws
        panel.flush()
        if panel.redraws > before:
            frames.append(clock.now)
    elapsed = clock.now
    frame_s = panel.drawing_s / panel.redraws
    # Within the budget, give or take one frame; and the chart still follows training.
    assert panel.drawing_s <= elapsed / DRAW_BUDGET + frame_s
    gaps = [later - earlier for earlier, later in itertools.pairwise(frames)]
    assert max(gaps) <= MAX_CHART_GAP_S
    # Frames cost enough that their interval is past an epoch: epochs wait for the budget.
    assert frame_s * DRAW_BUDGET > 0.6

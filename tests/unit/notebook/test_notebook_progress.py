import pytest

from model_trainer.core.events.trainer_metrics_events import (
    TrainerProgressMetricsV1,
    make_config_event,
    make_epoch_event,
    make_progress_metrics_event,
)
from model_trainer.notebook.progress import (
    ProgressSnapshot,
    ProgressTracker,
    Throttle,
    format_duration,
    format_rate,
    progress_fraction,
    progress_text,
)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _progress(step: int, elapsed_s: float, epoch: int = 1) -> TrainerProgressMetricsV1:
    return make_progress_metrics_event(
        job_id="j",
        user_id=1,
        epoch=epoch,
        total_epochs=2,
        step=step,
        steps_per_epoch=4,
        loss=2.0,
        tokens_per_second=1500.0,
        learning_rate=1e-3,
        elapsed_s=elapsed_s,
        ts=0.0,
    )


def test_throttle_lets_one_pass_per_interval() -> None:
    clock = Clock()
    throttle = Throttle(0.5, clock=clock)
    assert throttle.take()
    assert not throttle.take()
    clock.now = 0.49
    assert not throttle.take()
    clock.now = 0.5
    assert throttle.take()
    clock.now = 0.75
    assert not throttle.take()
    throttle.mark()
    clock.now = 1.125
    assert not throttle.take()
    clock.now = 1.25
    assert throttle.take()


def test_a_fresh_tracker_knows_nothing() -> None:
    snapshot = ProgressTracker().snapshot()
    assert snapshot == {
        "step": 0,
        "total_steps": 0,
        "epoch": 0,
        "total_epochs": 0,
        "loss": None,
        "tokens_per_second": 0.0,
        "elapsed_s": 0.0,
        "eta_s": None,
    }
    assert progress_fraction(snapshot) is None


def test_time_left_follows_the_speed_since_the_first_event() -> None:
    tracker = ProgressTracker()
    tracker.on_config(
        make_config_event(
            job_id="j", user_id=1, model_family="m", model_size="s", total_epochs=2, ts=0.0
        )
    )
    assert tracker.snapshot()["total_steps"] == 0
    tracker.on_config(
        make_config_event(
            job_id="j",
            user_id=1,
            model_family="m",
            model_size="s",
            total_epochs=2,
            steps_per_epoch=4,
            ts=0.0,
        )
    )
    tracker.on_progress(_progress(1, 10.5))
    assert tracker.snapshot()["eta_s"] is None
    tracker.on_progress(_progress(1, 11.0))
    assert tracker.snapshot()["eta_s"] is None
    tracker.on_progress(_progress(3, 10.5))
    assert tracker.snapshot()["eta_s"] is None
    tracker.on_progress(_progress(5, 12.5, epoch=2))
    assert tracker.snapshot() == {
        "step": 5,
        "total_steps": 8,
        "epoch": 2,
        "total_epochs": 2,
        "loss": 2.0,
        "tokens_per_second": 1500.0,
        "elapsed_s": 12.5,
        "eta_s": pytest.approx(1.5),
    }


def test_epoch_events_move_the_tracker_too() -> None:
    tracker = ProgressTracker()
    epoch = make_epoch_event(
        job_id="j",
        user_id=1,
        epoch=1,
        total_epochs=3,
        global_step=10,
        elapsed_s=5.0,
        train_loss=2.0,
        train_perplexity=7.4,
        val_loss=None,
        val_perplexity=None,
        tokens_per_second=900.0,
        learning_rate=1e-3,
        loss_unit="char",
        ts=0.0,
    )
    tracker.on_epoch(epoch)
    snapshot = tracker.snapshot()
    assert (snapshot["step"], snapshot["epoch"], snapshot["total_epochs"]) == (10, 1, 3)
    # The epoch's elapsed_s is its own training time: the job's clock waits for progress.
    assert (snapshot["tokens_per_second"], snapshot["elapsed_s"]) == (900.0, 0.0)
    assert snapshot["eta_s"] is None
    for step, elapsed_s in ((11, 6.0), (15, 8.0)):
        tracker.on_progress(
            make_progress_metrics_event(
                job_id="j",
                user_id=1,
                epoch=2,
                total_epochs=3,
                step=step,
                steps_per_epoch=10,
                loss=1.5,
                tokens_per_second=1000.0,
                learning_rate=1e-3,
                elapsed_s=elapsed_s,
                ts=0.0,
            )
        )
    tracker.on_epoch({**epoch, "epoch": 2, "global_step": 20, "elapsed_s": 4.5})
    snapshot = tracker.snapshot()
    assert (snapshot["step"], snapshot["elapsed_s"]) == (20, 8.0)
    # 9 steps in 2 s since the first progress event; 10 of the 30 steps are left.
    assert snapshot["eta_s"] == pytest.approx(10 * 2.0 / 9)


def _snapshot(step: int, total: int) -> ProgressSnapshot:
    return {
        "step": step,
        "total_steps": total,
        "epoch": 2,
        "total_epochs": 3,
        "loss": 1.0,
        "tokens_per_second": 12345.0,
        "elapsed_s": 75.0,
        "eta_s": 3725.0,
    }


def test_progress_fraction_is_clamped() -> None:
    assert progress_fraction(_snapshot(3, 12)) == 0.25
    assert progress_fraction(_snapshot(15, 12)) == 1.0
    assert progress_fraction(_snapshot(-1, 12)) == 0.0
    assert progress_fraction(_snapshot(3, 0)) is None


def test_durations_and_rates_read_short() -> None:
    assert format_duration(None) == "--:--"
    assert format_duration(0.0) == "00:00"
    assert format_duration(65.4) == "01:05"
    assert format_duration(3725.0) == "1:02:05"
    assert format_rate(850.2) == "850 tok/s"
    assert format_rate(12345.0) == "12.3k tok/s"
    assert format_rate(4.56e6) == "4.56M tok/s"


def test_progress_text() -> None:
    assert progress_text(_snapshot(3, 12)) == (
        "step 3/12 · epoch 2/3 · 12.3k tok/s · 01:15 elapsed · 1:02:05 left"
    )
    assert progress_text(_snapshot(3, 0)) == (
        "step 3/? · epoch 2/3 · 12.3k tok/s · 01:15 elapsed · 1:02:05 left"
    )

import io
import math

import pytest

from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import (
    make_completed_event,
    make_failed_event,
    make_progress_event,
    make_started_event,
    make_warning_event,
)
from model_trainer.core.events.trainer_metrics_events import (
    make_config_event,
    make_epoch_event,
    make_progress_metrics_event,
)
from model_trainer.notebook.console import ConsoleSink

RUN_OUTPUT = (
    "gpt2/tiny: 2 epochs x 4 steps, loss in nats/token\n"
    "\repoch 1/2:   0%|          | 0/4"
    "\repoch 1/2:  25%|##5       | 1/4, loss 3.7500 · 2.0k tok/s · --:-- left"
    "\repoch 1/2:  50%|#####     | 2/4, loss 3.5000 · 2.0k tok/s · 00:03 left"
    "\repoch 1/2:  50%|#####     | 2/4, loss 3.5000 · 2.0k tok/s · 00:03 left\n"
    "step 2: val 3.6000 (ppl 36.60) nats/token\n"
    "\repoch 1/2:  50%|#####     | 2/4"
    "\repoch 1/2:  75%|#######5  | 3/4, loss 3.2500 · 2.0k tok/s · 00:02 left"
    "\repoch 1/2: 100%|##########| 4/4, loss 3.0000 · 2.0k tok/s · 00:02 left"
    "\repoch 1/2: 100%|##########| 4/4, loss 3.0000 · 2.0k tok/s · 00:02 left\n"
    "epoch 1/2: train 3.0000 (ppl 20.09) · val 3.2000 (ppl 24.53) nats/token"
    " · 2.0k tok/s · 00:02\n"
    "\repoch 2/2:   0%|          | 0/4"
    "\repoch 2/2:  25%|##5       | 1/4, loss 2.7500 · 2.0k tok/s · 00:02 left"
    "\repoch 2/2:  50%|#####     | 2/4, loss 2.5000 · 2.0k tok/s · 00:01 left"
    "\repoch 2/2:  75%|#######5  | 3/4, loss 2.2500 · 2.0k tok/s · 00:00 left"
    "\repoch 2/2: 100%|##########| 4/4, loss 2.0000 · 2.0k tok/s · 00:00 left"
    "\repoch 2/2: 100%|##########| 4/4, loss 2.0000 · 2.0k tok/s · 00:00 left\n"
    "epoch 2/2: train 2.5000 (ppl 12.18) · val 2.7000 (ppl 14.88) nats/token"
    " · 2.0k tok/s · 00:02\n"
    "completed: train 2.5000 (ppl 12.18) · val 2.7000 (ppl 14.88) nats/token"
    " · model in runs/r1/model\n"
)


def _progress(step: int, *, epoch: int, per_epoch: int) -> Event:
    return make_progress_metrics_event(
        job_id="j",
        user_id=1,
        epoch=epoch,
        total_epochs=2,
        step=step,
        steps_per_epoch=per_epoch,
        loss=math.log(4.0),
        tokens_per_second=500.0,
        learning_rate=1e-3,
        elapsed_s=2.0 * step,
        ts=0.0,
    )


def _epoch(step: int) -> Event:
    return make_epoch_event(
        job_id="j",
        user_id=1,
        epoch=1,
        total_epochs=2,
        global_step=step,
        elapsed_s=2.0 * step,
        train_loss=math.log(4.0),
        train_perplexity=4.0,
        val_loss=None,
        val_perplexity=None,
        tokens_per_second=500.0,
        learning_rate=1e-3,
        loss_unit="char",
        ts=0.0,
    )


def test_a_whole_run_prints_bars_and_one_line_per_epoch(run_events: list[Event]) -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, mininterval=0.0)
    for event in run_events:
        sink.emit(event)
    sink.close()
    assert stream.getvalue() == RUN_OUTPUT


def test_a_char_model_in_bits_per_char_cancelled_without_a_plan() -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, unit="bits_per_char", mininterval=0.0)
    events: list[Event] = [
        make_started_event(job_id="j", user_id=1, kind="train", run_id="r", ts=0.0),
        make_config_event(
            job_id="j",
            user_id=1,
            model_family="char_lstm",
            model_size="small",
            total_epochs=2,
            loss_unit="char",
            ts=0.0,
        ),
        _progress(1, epoch=1, per_epoch=0),
        make_progress_event(job_id="j", user_id=1, progress=50, message="half", ts=0.0),
        _progress(2, epoch=1, per_epoch=0),
        _epoch(2),
        _progress(3, epoch=2, per_epoch=0),
        make_failed_event(
            job_id="j",
            user_id=1,
            error_kind="user",
            code="TRAINING_CANCELLED",
            message="stopped by the user",
            ts=0.0,
        ),
    ]
    for event in events:
        sink.emit(event)
    sink.close()
    sink.close()
    assert stream.getvalue() == (
        "char_lstm/small: 2 epochs, loss in bits/char\n"
        "\repoch 1/2:   0%|          | 0/?"
        "\repoch 1/2:   0%|          | 1/?, loss 2.0000 · 500 tok/s · --:-- left"
        "\repoch 1/2:   0%|          | 2/?, loss 2.0000 · 500 tok/s · --:-- left"
        "\repoch 1/2:   0%|          | 2/?, loss 2.0000 · 500 tok/s · --:-- left\n"
        "epoch 1/2: train 2.0000 (ppl 4.00) bits/char · 500 tok/s · 00:04\n"
        "\repoch 2/2:   0%|          | 2/?"
        "\repoch 2/2:   0%|          | 3/?, loss 2.0000 · 500 tok/s · --:-- left"
        "\repoch 2/2:   0%|          | 3/?, loss 2.0000 · 500 tok/s · --:-- left\n"
        "cancelled: TRAINING_CANCELLED: stopped by the user\n"
    )


def test_bars_fill_at_the_epoch_end_and_close_at_a_new_epoch_or_the_job_end() -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, mininterval=0.0, ncols=90)
    for event in (
        _progress(1, epoch=1, per_epoch=4),
        _epoch(4),
        _progress(6, epoch=2, per_epoch=4),
        _progress(9, epoch=3, per_epoch=4),
        make_completed_event(job_id="j", user_id=1, result_id="r", result_bytes=1, ts=0.0),
    ):
        sink.emit(event)
    wide, post = " " * 69, ", loss 1.3863 · 500 tok/s ·"
    quarter, half, full = "#######7" + " " * 23, "###############5" + " " * 15, "#" * 31
    assert stream.getvalue() == (
        f"\repoch 1/2:   0%|{wide}| 0/4"
        f"\repoch 1/2:  25%|{quarter}| 1/4{post} --:-- left"
        f"\repoch 1/2: 100%|{full}| 4/4{post} --:-- left"
        f"\repoch 1/2: 100%|{full}| 4/4{post} --:-- left\n"
        "epoch 1/2: train 1.3863 (ppl 4.00) nats/token · 500 tok/s · 00:08\n"
        f"\repoch 2/2:  25%|#################2{wide[18:]}| 1/4"
        f"\repoch 2/2:  50%|{half}| 2/4{post} 00:04 left"
        f"\repoch 2/2:  50%|{half}| 2/4{post} 00:04 left\n"
        f"\repoch 3/2:   0%|{wide}| 0/4"
        f"\repoch 3/2:  25%|{quarter}| 1/4{post} 00:00 left"
        f"\repoch 3/2:  25%|{quarter}| 1/4{post} 00:00 left\n"
    )


def test_failures_and_the_default_stream(capsys: pytest.CaptureFixture[str]) -> None:
    sink = ConsoleSink()
    sink.emit(
        make_failed_event(
            job_id="j",
            user_id=1,
            error_kind="system",
            code="TRAINING_OOM",
            message="out of memory at step 3",
            ts=0.0,
        )
    )
    assert capsys.readouterr().err == "failed: TRAINING_OOM: out of memory at step 3\n"


def test_show_prints_the_lines_so_far_again(run_events: list[Event]) -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, mininterval=0.0)
    for event in run_events:
        sink.emit(event)
    sink.close()
    stream.truncate(0)
    stream.seek(0)
    sink.show()
    assert stream.getvalue() == (
        "gpt2/tiny: 2 epochs x 4 steps, loss in nats/token\n"
        "step 2: val 3.6000 (ppl 36.60) nats/token\n"
        "epoch 1/2: train 3.0000 (ppl 20.09) · val 3.2000 (ppl 24.53) nats/token"
        " · 2.0k tok/s · 00:02\n"
        "epoch 2/2: train 2.5000 (ppl 12.18) · val 2.7000 (ppl 14.88) nats/token"
        " · 2.0k tok/s · 00:02\n"
        "completed: train 2.5000 (ppl 12.18) · val 2.7000 (ppl 14.88) nats/token"
        " · model in runs/r1/model\n"
    )


def test_each_data_stage_before_training_has_a_bar() -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, mininterval=0.0, ncols=60)

    def stage(percent: int, what: str) -> Event:
        return make_progress_event(job_id="j", user_id=1, progress=percent, message=what, ts=0.0)

    tokenizer, encoding = "training the char tokenizer", "encoding the train split"
    for event in (
        stage(0, tokenizer),
        stage(50, tokenizer),
        stage(100, tokenizer),
        stage(40, encoding),
        stage(100, encoding),
        make_config_event(
            job_id="j",
            user_id=1,
            model_family="char_lstm",
            model_size="small",
            total_epochs=2,
            loss_unit="char",
            ts=0.0,
        ),
        stage(50, "epoch 1/2"),  # a job's progress once training runs: the epoch lines say it
    ):
        sink.emit(event)
    sink.close()
    assert stream.getvalue() == (
        f"\r{tokenizer}:   0%|{' ' * 25}|"
        f"\r{tokenizer}:  50%|{'#' * 12}5{' ' * 12}|"
        f"\r{tokenizer}: 100%|{'#' * 25}|"
        f"\r{tokenizer}: 100%|{'#' * 25}|\n"
        f"\r{encoding}:   0%|{' ' * 28}|"
        f"\r{encoding}:  40%|{'#' * 11}2{' ' * 16}|"
        f"\r{encoding}: 100%|{'#' * 28}|"
        f"\r{encoding}: 100%|{'#' * 28}|\n"
        "char_lstm/small: 2 epochs, loss in nats/token\n"
    )


def test_a_warning_is_a_line_before_and_after_training_begins() -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, mininterval=0.0, ncols=40)
    warning = make_warning_event(
        job_id="j",
        user_id=1,
        progress=100,
        warning="after_training",
        code="ARTIFACT_UPLOAD_FAILED",
        message="report.html not written",
        details={"piece": "report.html", "unwritten": ["report.html"]},
        ts=0.0,
    )
    sink.emit(warning)
    sink.emit(
        make_config_event(
            job_id="j", user_id=1, model_family="gpt2", model_size="tiny", total_epochs=1, ts=0.0
        )
    )
    sink.emit(
        make_progress_event(
            job_id="j", user_id=1, progress=100, message="after training: sample", ts=0.0
        )
    )
    sink.emit(warning)
    assert stream.getvalue() == (
        "warning: report.html not written\n"
        "gpt2/tiny: 1 epochs, loss in nats/token\n"
        "warning: report.html not written\n"
    )

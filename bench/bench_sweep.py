"""A sweep's per-trial overhead against its trials' training time.

Each round runs a sweep of two trials through ``start_sweep`` with the sweep's live board
as a sink (every trial's events recorded, its chart and table drawn once per trial, as the
notebook's render thread would). Ours is the sweep's wall-clock seconds per trial: the run
folder, the tokenizer and the model, training, the saved model, the report (curves, a
scored snippet, a sample), the sweep's record and its view. The baseline is the training
time of a trial alone: the wall-clock seconds of its training loop, from its config event
(sent once the model is built and the data ready, just before the first step) to its last
epoch event (after the last step and the epoch's validation), as the sweep's sink hears
them. Everything else is overhead: the start (folder, tokenizer, data, model), the last
checkpoint, the saved model, the report, the sweep's record and the board's drawing. The
ratio (training over total) says how much of a sweep's time goes to training; the target is
a per-trial overhead of at most 3% of a trial's training time.
"""

from __future__ import annotations

import tempfile
import time

import harness
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.events.codec import Event
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch
from model_trainer.core.experiments.sweep import start_sweep
from model_trainer.notebook.sweep_view import SweepBoard, sweep_png, sweep_table_html

TARGET = 1 / 1.03
TRIALS = 2


def one_sweep(quick: bool, index: int) -> tuple[float, float]:
    """Seconds per trial of a whole sweep, and of its trials' training alone."""
    base = train_config(
        model_family="char_lstm",
        model_size="tiny" if quick else "small",
        num_epochs=2,
        max_seq_len=32 if quick else 128,
        batch_size=8 if quick else 32,
        max_steps_per_epoch=2 if quick else 60,
        device="cpu",
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = with_overrides(load_settings(), runs_dir=tmp)
        board = SweepBoard(f"bench{index}")

        heard: dict[str, list[float]] = {}

        def record(event: Event) -> None:
            if is_config(event) or is_epoch(event):
                heard.setdefault(event["job_id"], []).append(time.perf_counter())
            board.emit(event)
            if event["type"] == "trainer.job.completed.v1" and event["job_id"] != board.sweep_id:
                sweep_png(board.snapshot())
                sweep_table_html(board.snapshot())

        started = time.perf_counter()
        result = start_sweep(
            base,
            {"seed": list(range(TRIALS))},
            settings,
            sweep_id=board.sweep_id,
            registry=default_registry,
            sinks=[CallbackSink(record)],
        ).result()
        total = time.perf_counter() - started
        training = sum(
            heard[trial["run_id"]][-1] - heard[trial["run_id"]][0] for trial in result["trials"]
        )
    return total / TRIALS, training / TRIALS


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    totals: list[float] = []
    trainings: list[float] = []
    for index in range(opts["rounds"] + 1):
        total, training = one_sweep(opts["quick"], index)
        if index > 0:
            totals.append(total)
            trainings.append(training)
    harness.emit(
        harness.figure(
            "sweep_seconds_per_trial_vs_training_time",
            totals,
            trainings,
            unit="s/trial",
            target=round(TARGET, 4),
            higher_is_better=False,
        )
    )


if __name__ == "__main__":
    main()

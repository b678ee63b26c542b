"""Training with the console sink and the JSONL sink against training with no sinks.

Both sides run ``BaseTrainer.train_epochs`` on the same GPT-2 (its steps are the shortest, so
a sink's cost shows most). Ours builds the events the train job builds (a config event, one
progress event per reading, one epoch event) and hands them to the console sink (its bar and
lines written to a file) and the JSONL file sink; the baseline's callbacks do nothing. One
figure at the default reading interval, one with a reading after every step.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import common
import harness
from model_trainer.core.contracts.model import EpochMetrics, TrainingCallbacks
from model_trainer.core.events.sinks import FanoutSink, JsonlFileSink
from model_trainer.core.events.trainer_metrics_events import (
    make_config_event,
    make_epoch_event,
    make_progress_metrics_event,
)
from model_trainer.notebook.console import ConsoleSink

TARGET = 0.98
JOB_ID = "bench"


class Reporter:
    """Callbacks that turn the trainer's readings into events for ``sink``."""

    def __init__(self, sink: FanoutSink, *, shape: common.Shape, steps: int) -> None:
        self.sink = sink
        self.shape = shape
        self.steps = steps
        self.started = time.perf_counter()
        self.last_step = 0
        self.last_time = self.started

    def configure(self) -> None:
        """Emit the run's config event, as a job does before training."""
        self.sink.emit(
            make_config_event(
                job_id=JOB_ID,
                user_id=0,
                model_family="gpt2",
                model_size=self.shape["size"],
                total_epochs=1,
                batch_size=self.shape["batch_size"],
                steps_per_epoch=self.steps,
                max_seq_len=self.shape["seq_len"],
                loss_unit="char",
            )
        )

    def progress(self, step: int, epoch: int, loss: float) -> None:
        """Emit a progress event with the rate since the last one."""
        now = time.perf_counter()
        tokens = (step - self.last_step) * self.shape["batch_size"] * self.shape["seq_len"]
        rate = tokens / max(now - self.last_time, 1e-9)
        self.last_step, self.last_time = step, now
        self.sink.emit(
            make_progress_metrics_event(
                job_id=JOB_ID,
                user_id=0,
                epoch=epoch,
                total_epochs=1,
                step=step,
                steps_per_epoch=self.steps,
                loss=loss,
                tokens_per_second=rate,
                learning_rate=common.LR,
                elapsed_s=now - self.started,
            )
        )

    def epoch_end(self, metrics: EpochMetrics) -> None:
        """Emit the epoch event."""
        self.sink.emit(
            make_epoch_event(
                job_id=JOB_ID,
                user_id=0,
                epoch=metrics["epoch"],
                total_epochs=1,
                global_step=metrics["global_step"],
                elapsed_s=metrics["elapsed_s"],
                train_loss=metrics["loss"],
                train_perplexity=metrics["perplexity"],
                val_loss=metrics["val_loss"],
                val_perplexity=metrics["val_perplexity"],
                tokens_per_second=metrics["tokens_per_second"],
                learning_rate=metrics["learning_rate"],
                loss_unit="char",
            )
        )

    def callbacks(self) -> TrainingCallbacks:
        """The trainer's callbacks, reporting into the sinks."""
        return {
            "heartbeat": common.nothing,
            "cancelled": common.never,
            "progress": self.progress,
            "epoch_end": self.epoch_end,
        }


def compare(opts: harness.Options, folder: Path, *, interval: float, label: str) -> None:
    shape = common.gpt2_shape(opts["quick"])
    model = common.prepared("gpt2", shape)["model"]
    train = common.windows(shape)
    mine, base = common.Side(model), common.Side(model)
    steps = shape["steps"]

    def with_sinks() -> int:
        with (folder / "console.txt").open("a", encoding="utf-8") as stream:
            sink = FanoutSink([ConsoleSink(stream=stream), JsonlFileSink(folder / "events.jsonl")])
            reporter = Reporter(sink, shape=shape, steps=steps)
            reporter.configure()
            tokens = common.trainer_epoch(
                mine,
                train,
                steps=steps,
                callbacks=reporter.callbacks(),
                progress_interval_s=interval,
            )
            sink.close()
        return tokens

    def without() -> int:
        return common.trainer_epoch(
            base, train, steps=steps, callbacks=common.IDLE_CALLBACKS, progress_interval_s=interval
        )

    def run_ours() -> float:
        return harness.rate(with_sinks)

    def run_bare() -> float:
        return harness.rate(without)

    harness.maybe_profile(opts, f"sinks {label}", run_ours)
    harness.maybe_profile(opts, f"no sinks {label}", run_bare)
    ours_values, bare_values = harness.alternate(run_ours, run_bare, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"train_gpt2_{shape['size']}_console_jsonl_sinks_vs_none_{label}",
            ours_values,
            bare_values,
            unit="tokens/s",
            target=TARGET,
        )
    )


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    default_interval = common.settings()["progress_interval_s"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        compare(opts, folder, interval=default_interval, label="default_interval")
        compare(opts, folder, interval=0.0, label="every_step")


if __name__ == "__main__":
    main()

"""Training with the live panel or the console sink, plus the JSONL sink, against no sinks.

Both sides run ``BaseTrainer.train_epochs`` on one model. Ours builds the events the train
job builds (a config event, one progress event per reading, one epoch event) and hands them
to the sinks; the baseline's callbacks do nothing. Figures:

- GPT-2 (its steps are the shortest, so a sink's cost shows most) with the console sink
  (its bar and lines written to a file) and the JSONL sink, at the default reading interval
  and with a reading after every step;
- the ``small`` char-LSTM with the notebook's live panel (``TrainingPanel``: widgets and
  matplotlib frames drawn as in a notebook, shown nowhere) and the JSONL sink. The panel
  lives through every round, as it lives through a run's epochs; its first frame (figure
  set-up, once per run) falls in the warm-up round. ``1 - ratio`` is the share of training
  time the panel takes;
- the panel's mean chart frame (drawn on its render thread, timed by the panel itself)
  against 40 ms, the most a frame may cost for a chart every ``MAX_CHART_GAP_S`` (2 s)
  within 2% of training time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import common
import harness
from model_trainer.core.contracts.model import TrainingCallbacks
from model_trainer.core.events.codec import Event
from model_trainer.core.events.sinks import EventSink, FanoutSink, JsonlFileSink
from model_trainer.core.events.trainer_metrics_events import make_config_event
from model_trainer.core.jobs.metrics_reporter import MetricsReporter
from model_trainer.notebook.console import ConsoleSink
from model_trainer.notebook.panel import MAX_CHART_GAP_S, TrainingPanel

TARGET = 0.98
FRAME_BUDGET_MS = MAX_CHART_GAP_S * 0.02 * 1000
JOB_ID = "bench"
PANEL_STEPS = 40
"""Steps per round of the panel figure: about 10 s of ``small`` char-LSTM training."""


def shown_nowhere(obj: object, *, display_id: str | None = None, update: bool = False) -> None:
    """A display function for a panel outside a notebook: outputs go nowhere."""


class Reporter:
    """The train job's events for ``sink``: its config event, then ``MetricsReporter``'s."""

    def __init__(
        self, sink: EventSink, *, shape: common.Shape, steps: int, family: str = "gpt2"
    ) -> None:
        self.sink = sink
        self.family = family
        self.shape = shape
        self.steps = steps
        self.metrics = MetricsReporter(
            sink.emit,
            job_id=JOB_ID,
            user_id=0,
            num_epochs=1,
            updates_per_epoch=steps,
            loss_unit="char",
        )

    def configure(self) -> None:
        """Emit the run's config event, as a job does before training."""
        self.sink.emit(
            make_config_event(
                job_id=JOB_ID,
                user_id=0,
                model_family=self.family,
                model_size=self.shape["size"],
                total_epochs=1,
                batch_size=self.shape["batch_size"],
                steps_per_epoch=self.steps,
                max_seq_len=self.shape["seq_len"],
                loss_unit="char",
            )
        )

    def callbacks(self) -> TrainingCallbacks:
        """The trainer's callbacks, reporting into the sinks."""
        return {
            "heartbeat": common.nothing,
            "cancelled": common.never,
            "progress": None,
            "reading": self.metrics.reading,
            "epoch_end": self.metrics.epoch_end,
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


class Relay:
    """Events to the panel and the JSONL sink; the panel stays open between rounds.

    ``spent_s`` adds up the wall-clock time spent inside the panel's ``emit``.
    """

    def __init__(self, panel: TrainingPanel, jsonl: JsonlFileSink) -> None:
        self.panel = panel
        self.jsonl = jsonl
        self.spent_s = 0.0

    def emit(self, event: Event) -> None:
        """Send ``event`` to both sinks."""
        started = time.perf_counter()
        self.panel.emit(event)
        self.spent_s += time.perf_counter() - started
        self.jsonl.emit(event)

    def close(self) -> None:
        """Close the JSONL sink only."""
        self.jsonl.close()


def compare_panel(opts: harness.Options, folder: Path) -> None:
    shape = common.lstm_shape(opts["quick"])
    steps = shape["steps"] if opts["quick"] else PANEL_STEPS
    model = common.prepared("char_lstm", shape)["model"]
    train = common.windows(shape)
    mine, base = common.Side(model), common.Side(model)
    interval = common.settings()["progress_interval_s"]
    panel = TrainingPanel(common.nothing, display=shown_nowhere)
    panel.show()
    spent = {"panel_s": 0.0, "total_s": 0.0}

    def with_panel() -> int:
        started = time.perf_counter()
        relay = Relay(panel, JsonlFileSink(folder / "panel-events.jsonl"))
        reporter = Reporter(relay, shape=shape, steps=steps, family="char_lstm")
        reporter.configure()
        tokens = common.trainer_epoch(
            mine, train, steps=steps, callbacks=reporter.callbacks(), progress_interval_s=interval
        )
        relay.close()
        spent["panel_s"] += relay.spent_s
        spent["total_s"] += time.perf_counter() - started
        return tokens

    def without() -> int:
        return common.trainer_epoch(
            base, train, steps=steps, callbacks=common.IDLE_CALLBACKS, progress_interval_s=interval
        )

    def run_ours() -> float:
        return harness.rate(with_panel)

    def run_bare() -> float:
        return harness.rate(without)

    harness.maybe_profile(opts, "live panel", run_ours)
    ours_values, bare_values = harness.alternate(run_ours, run_bare, rounds=opts["rounds"])
    panel.close()
    harness.emit(
        harness.figure(
            f"train_char_lstm_{shape['size']}_live_panel_jsonl_vs_none",
            ours_values,
            bare_values,
            unit="tokens/s",
            target=TARGET,
        )
    )
    frame_ms = panel.drawing_s / panel.redraws * 1000
    harness.emit(
        harness.figure(
            "live_panel_mean_frame_vs_budget",
            [frame_ms],
            [FRAME_BUDGET_MS],
            unit="ms",
            target=1.0,
            higher_is_better=False,
        )
    )
    share = spent["panel_s"] / spent["total_s"]
    drawn = panel.drawing_s / spent["total_s"]
    print(
        f"live panel: {panel.redraws} chart frames, {frame_ms:.1f} ms each, "
        f"{panel.drawing_s:.2f} s drawing ({drawn:.2%} of training); {spent['panel_s']:.2f} s "
        f"inside emit of {spent['total_s']:.1f} s of training with it ({share:.2%}, warm-up "
        f"included)",
        file=sys.stderr,
    )


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    default_interval = common.settings()["progress_interval_s"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        compare(opts, folder, interval=default_interval, label="default_interval")
        compare(opts, folder, interval=0.0, label="every_step")
        compare_panel(opts, folder)


if __name__ == "__main__":
    main()

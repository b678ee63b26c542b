"""Training that watches itself learn (a sample and a probe each epoch) against training without.

Both sides train one model through ``BaseTrainer.train_epochs`` for one epoch of the length
the defaults give on the builtin corpus at the family's measured shape (``--quick``: the
quick shape's few steps). Ours has the train job's ``Evolution`` on its epoch end, as
``watch_learning`` (on by default) sets it: a sample of the default length from the fixed
prompt and seed, and the default probe passage scored per character; the baseline's
callbacks do nothing. Figures for the ``small`` char-LSTM and GPT-2 ``small``; target 0.98.
A figure takes a few minutes a round on a CPU: ``--rounds 3`` is enough to read it.
"""

from __future__ import annotations

import common
import harness
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.jobs.evolution import Evolution
from model_trainer.core.training.dataset import plan_training

TARGET = 0.98
HELD_OUT_CHARS = 400


def epoch_steps(family: str, shape: common.Shape, quick: bool) -> int:
    """The updates of one default epoch over the builtin corpus at ``shape``."""
    if quick:
        return shape["steps"]
    cfg = common.config(family, shape)
    held = int(common.corpus_ids().numel() * (1.0 - cfg["val_fraction"]))
    return plan_training(held, cfg)["updates_per_epoch"]


def compare(opts: harness.Options, family: str, shape: common.Shape) -> None:
    prepared = common.prepared(family, shape)
    cfg = common.config(family, shape)
    train = common.windows(shape)
    mine, base = common.Side(prepared["model"]), common.Side(prepared["model"])
    steps = epoch_steps(family, shape, opts["quick"])
    evolution = Evolution(
        common.nothing,
        job_id="bench",
        user_id=0,
        cfg=cfg,
        backend=default_registry.get(family),
        prepared=prepared,
        settings=common.settings(),
        held_out=builtin_text()[-HELD_OUT_CHARS:],
        loss_unit="char",
    )
    interval = common.settings()["progress_interval_s"]

    def watched_epoch() -> int:
        tokens = common.trainer_epoch(
            mine, train, steps=steps, callbacks=common.IDLE_CALLBACKS, progress_interval_s=interval
        )
        # What run_training hands the job's epoch end: only the epoch and its step are read.
        evolution.epoch_end(
            {
                "epoch": 1,
                "global_step": steps,
                "steps": steps,
                "elapsed_s": 0.0,
                "loss": 0.0,
                "perplexity": 1.0,
                "val_loss": None,
                "val_perplexity": None,
                "tokens_per_second": 0.0,
                "learning_rate": common.LR,
            }
        )
        return tokens

    def run_ours() -> float:
        return harness.rate(watched_epoch)

    def run_bare() -> float:
        return harness.rate(
            lambda: common.trainer_epoch(
                base,
                train,
                steps=steps,
                callbacks=common.IDLE_CALLBACKS,
                progress_interval_s=interval,
            )
        )

    harness.maybe_profile(opts, f"{family} watching", run_ours)
    ours_values, bare_values = harness.alternate(run_ours, run_bare, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"train_{family}_{shape['size']}_sample_and_probe_each_epoch_vs_none",
            ours_values,
            bare_values,
            unit="tokens/s",
            target=TARGET,
        )
    )


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    compare(opts, "char_lstm", common.lstm_shape(opts["quick"]))
    compare(opts, "gpt2", common.gpt2_shape(opts["quick"]))


if __name__ == "__main__":
    main()

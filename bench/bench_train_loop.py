"""Our training loop against the plain PyTorch loop it replaces, for GPT-2 and the char-LSTM.

Ours is ``BaseTrainer.train_epochs`` with callbacks that do nothing. The plain loop is
written here: the same model object, the same data tensor cut into the same batches, AdamW
built the same way, fp32, gradient clipping at 1.0 and a scheduler step, as ours does.
Each side has its own optimizer; both train the one model in turn.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

import common
import harness

TARGET = 0.97


def plain(side: common.Side, ids: Tensor, *, seq_len: int, batch_size: int, steps: int) -> int:
    """The loop people write by hand, over the same windows; returns the tokens trained."""
    model = side.model
    params = list(model.parameters())
    model.train()
    order = torch.randperm((ids.numel() - 1) // seq_len)  # (W,)
    offsets = torch.arange(seq_len + 1)  # (T + 1,)
    for step in range(steps):
        starts = order[step * batch_size : (step + 1) * batch_size] * seq_len  # (B,)
        rows = ids[starts[:, None] + offsets]  # (B, T + 1)
        logits = model(rows[:, :-1])  # (B, T, V)
        loss = functional.cross_entropy(logits.flatten(0, 1), rows[:, 1:].flatten())
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(params, common.GRAD_CLIP)
        side.optimizer.step()
        side.scheduler.step()
        side.optimizer.zero_grad(set_to_none=True)
    return steps * batch_size * seq_len


def compare(opts: harness.Options, family: str, shape: common.Shape) -> None:
    model = common.prepared(family, shape)["model"]
    train = common.windows(shape)
    interval = common.settings()["progress_interval_s"]
    mine, base = common.Side(model), common.Side(model)
    steps = shape["steps"]

    def run_ours() -> float:
        return harness.rate(
            lambda: common.trainer_epoch(
                mine,
                train,
                steps=steps,
                callbacks=common.IDLE_CALLBACKS,
                progress_interval_s=interval,
            )
        )

    def run_plain() -> float:
        return harness.rate(
            lambda: plain(
                base,
                train.ids,
                seq_len=shape["seq_len"],
                batch_size=shape["batch_size"],
                steps=steps,
            )
        )

    harness.maybe_profile(opts, f"{family} ours", run_ours)
    harness.maybe_profile(opts, f"{family} plain", run_plain)
    ours_values, plain_values = harness.alternate(run_ours, run_plain, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"train_loop_{family}_{shape['size']}_vs_plain_loop",
            ours_values,
            plain_values,
            unit="tokens/s",
            target=TARGET,
        )
    )


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    compare(opts, "gpt2", common.gpt2_shape(opts["quick"]))
    compare(opts, "char_lstm", common.lstm_shape(opts["quick"]))


if __name__ == "__main__":
    main()

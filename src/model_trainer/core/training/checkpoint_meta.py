"""A checkpoint's ``state.json`` checked against its run, as every other file a run reads is.

A hand-edited or damaged position (a negative step, an epoch past the run's last, a history
that does not lead to it) would tell a wrong story on every resume; it is refused, naming the
file, the field and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from model_trainer.core.training.checkpoint import CheckpointMeta, load_failed


def check_meta(meta: CheckpointMeta, path: str, *, num_epochs: int, batches_per_epoch: int) -> None:
    """Check a checkpoint's ``state.json`` (at ``path``) against its run's plan.

    Its counts are not negative, its epoch is one of the run's (``num_epochs``), its step
    within the epoch is one of the epoch's ``batches_per_epoch``, its history holds each
    epoch before it, in order.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` naming ``path``, the field and its value.
    """
    position = meta["position"]
    fields: Mapping[str, object] = position
    for name in ("epoch", "step_in_epoch", "global_step", "tokens", "loss_sum", "elapsed_s"):
        value = fields[name]
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise load_failed(path, f"position.{name}={value!r} is not a count >= 0")
    epoch, step = position["epoch"], position["step_in_epoch"]
    last = num_epochs if step == 0 else num_epochs - 1
    if epoch > last:
        raise load_failed(
            path, f"position.epoch={epoch} (step {step}) is past the run's num_epochs={num_epochs}"
        )
    if step > batches_per_epoch:
        raise load_failed(
            path,
            f"position.step_in_epoch={step} is past the epoch's {batches_per_epoch} batches",
        )
    numbers = [metrics["epoch"] for metrics in meta["history"]]
    if numbers != list(range(1, epoch + 1)):
        raise load_failed(
            path,
            f"history holds epochs {numbers} and position.epoch={epoch}: it must hold epochs "
            f"1 to {epoch}",
        )
    done = meta["history"][-1]["global_step"] if meta["history"] else 0
    if position["global_step"] < done:
        raise load_failed(
            path,
            f"position.global_step={position['global_step']} is before the last finished "
            f"epoch's global_step={done}",
        )

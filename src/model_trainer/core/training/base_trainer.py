"""The shared training loop of every model family, and its optimizer and evaluation.

The loss is cross-entropy in nats per token. Per-batch losses stay on the device until a
reading: when ``progress_interval_s`` of wall time has passed, at a checkpoint and at the
end of an epoch. A reading checks the loss (finite, not diverged) and calls the
``heartbeat`` and ``progress`` callbacks; an epoch's loss is summed from its per-batch
losses in a fixed order, so it does not depend on when readings happened.

On several ranks (a ``Collective`` that is ``active``) each rank trains on its slice of every
global batch; the epoch's loss and the validation losses are summed over the ranks, the stop
is a vote taken before each optimizer step, and readings stay local (rank 0 reports its
own slice's loss). ``no_sync`` (DistributedDataParallel's) skips the gradient exchange of
every micro-batch but the last of an update.

Divergence: a reading more than ``DIVERGENCE_NATS`` above the lowest reading so far raises
``TRAINING_DIVERGED``. Ten nats is a factor of about 22,000 in perplexity, far beyond the
noise between two readings of a healthy run, and a run that climbs that far does not come
back.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Literal

import torch
from torch import Tensor
from torch.nn import Parameter, functional
from torch.optim import AdamW, Optimizer
from torch.optim.lr_scheduler import LRScheduler

from model_trainer.core.contracts.model import EpochMetrics, LMModelProto, TrainingCallbacks
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import TrainPosition
from model_trainer.core.training.dataset import TokenWindows
from model_trainer.core.training.device import ResolvedPrecision, autocast
from model_trainer.core.training.distributed import SOLO, Collective, group_failed

DIVERGENCE_NATS = 10.0
# exp() of more overflows a float; such a loss has long been reported as diverged.
MAX_EXP_LOSS = 700.0

OomCode = Literal["TRAINING_OOM", "CUDA_OOM"]
Forward = Callable[[Tensor], Tensor]
OnCheckpoint = Callable[[TrainPosition, list[EpochMetrics]], None]
OnEval = Callable[[int, float], None]
NoSync = Callable[[], AbstractContextManager[None]]


def oom_code(exc: BaseException, device: str) -> OomCode | None:
    """The error code of an out-of-memory failure on ``device``, or None for other errors."""
    if "out of memory" not in str(exc).lower():
        return None
    return "CUDA_OOM" if device.startswith("cuda") else "TRAINING_OOM"


def use_fused(device: str) -> bool:
    """Whether AdamW should use its fused kernel: on CUDA and on the CPU.

    On 2 CPU cores it makes a GPT-2 ``small`` step about 3% faster than ``foreach``
    (Hugging Face's ``Trainer`` picks it too).
    """
    return device == "cpu" or device.startswith("cuda")


def make_optimizer(
    params: Iterable[Parameter], *, lr: float, weight_decay: float, device: str
) -> AdamW:
    """AdamW with weight decay on matrices and embeddings (>= 2-D) only, not on biases or norms."""
    trainable = [p for p in params if p.requires_grad]
    groups: list[dict[str, object]] = [
        {"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0},
    ]
    return AdamW(groups, lr=lr, fused=use_fused(device))


def perplexity(loss: float) -> float:
    """``exp(loss)``, capped where it would overflow."""
    return math.exp(min(loss, MAX_EXP_LOSS))


def epoch_length(steps_per_epoch: int, max_steps_per_epoch: int) -> int:
    """Batches per epoch: all of them, or at most ``max_steps_per_epoch`` when it is > 0."""
    if max_steps_per_epoch > 0:
        return min(steps_per_epoch, max_steps_per_epoch)
    return steps_per_epoch


def check_loss(loss: float, best: float | None, *, step: int) -> None:
    """Raise when a training-loss reading is not finite or has diverged from ``best``."""
    if not math.isfinite(loss):
        raise ModelTrainerError(
            "TRAINING_NAN_LOSS",
            f"training loss became {loss} by step {step}; lower learning_rate or set grad_clip",
        )
    if best is not None and loss > best + DIVERGENCE_NATS:
        raise ModelTrainerError(
            "TRAINING_DIVERGED",
            f"training loss {loss:.3f} at step {step} is over {DIVERGENCE_NATS} nats above "
            f"its best {best:.3f}; lower learning_rate",
        )


def finite_weights(params: list[Parameter]) -> bool:
    """Whether every parameter is finite (one read-back for all of them)."""
    return bool(torch.stack([p.detach().isfinite().all() for p in params]).all().item())


def evaluate_loss(
    model: LMModelProto,
    windows: TokenWindows,
    device: str,
    precision: ResolvedPrecision,
    batch_limit: int | None = None,
    *,
    collective: Collective = SOLO,
) -> tuple[float, int]:
    """Mean loss (nats per token) and token count over ``windows``' first epoch order.

    Leaves ``model`` in evaluation mode. ``batch_limit`` caps the number of batches. With an
    active ``collective`` each rank scores its slice and both figures cover all the ranks.
    """
    model.eval()
    sums: list[Tensor] = []
    count = 0
    with torch.inference_mode():
        for cpu_inputs, cpu_targets in windows.batches(0, 0, batch_limit):
            inputs = cpu_inputs.to(device, non_blocking=True)  # (B, T)
            targets = cpu_targets.to(device, non_blocking=True)  # (B, T)
            with autocast(device, precision):
                logits = model(inputs)  # (B, T, V)
                loss = functional.cross_entropy(
                    logits.flatten(0, 1), targets.flatten(), reduction="sum"
                )
            sums.append(loss.float())
            count += targets.numel()
    total = 0.0
    for value in torch.stack(sums).tolist():
        total += value
    total, tokens = collective.sum([total, float(count)])
    return total / tokens, int(tokens)


class _Tally:
    """One epoch's per-batch losses, on the device until read, and its clock."""

    def __init__(self, *, epoch: int, steps: int, position: TrainPosition, device: str) -> None:
        self.epoch = epoch
        self.losses = torch.zeros(steps, device=device)  # (S,)
        self.tokens: list[int] = []
        self.first = position["step_in_epoch"]
        self.read_from = self.first
        self.loss_sum = position["loss_sum"]
        self.token_sum = position["tokens"]
        self.started = time.perf_counter() - position["elapsed_s"]
        self.last_read = time.perf_counter()

    def add(self, index: int, loss: Tensor, tokens: int) -> None:
        self.losses[index] = loss.detach()
        self.tokens.append(tokens)

    def window_mean(self, until: int) -> float | None:
        """Mean batch loss since the last reading (one read-back), or None if no batch."""
        self.last_read = time.perf_counter()
        if until == self.read_from:
            return None
        mean = self.losses[self.read_from : until].mean().item()
        self.read_from = until
        return mean

    def totals(self, until: int, collective: Collective) -> tuple[float, int]:
        """Loss (nats) and tokens of the epoch's batches before ``until``, over every rank.

        Each rank sums its batches in order; the part done before a resume (already a sum
        over the ranks) is counted by rank 0 alone.
        """
        done = self.tokens[: until - self.first]
        carried = collective.rank == 0
        total = self.loss_sum if carried else 0.0
        for loss, count in zip(self.losses[self.first : until].tolist(), done, strict=True):
            total += loss * count
        tokens = (self.token_sum if carried else 0) + sum(done)
        total, summed = collective.sum([total, float(tokens)])
        return total, int(summed)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def pause(self, since: float) -> None:
        """Leave the time since ``since`` (evaluation, checkpoint) out of the training time."""
        self.started += time.perf_counter() - since


class BaseTrainer:
    """Trains any ``LMModelProto`` for epochs; yields each epoch's metrics."""

    def train_epochs(
        self,
        *,
        model: LMModelProto,
        optimizer: Optimizer,
        scheduler: LRScheduler,
        train: TokenWindows,
        val: TokenWindows | None,
        num_epochs: int,
        device: str,
        precision: ResolvedPrecision,
        callbacks: TrainingCallbacks,
        grad_clip: float,
        grad_accum_steps: int,
        eval_every_steps: int,
        max_steps_per_epoch: int,
        checkpoint_every_steps: int,
        progress_interval_s: float,
        start: TrainPosition,
        history: list[EpochMetrics],
        on_checkpoint: OnCheckpoint,
        on_eval: OnEval | None = None,
        forward: Forward | None = None,
        collective: Collective = SOLO,
        no_sync: NoSync = contextlib.nullcontext,
    ) -> Iterator[EpochMetrics]:
        """Train from ``start`` to the end of epoch ``num_epochs``, yielding each epoch's metrics.

        ``history`` holds the epochs finished before ``start`` (a resumed run's); each new
        epoch is appended to a copy of it, which ``on_checkpoint(position, history)`` gets at
        each epoch end (before its metrics are yielded), every ``checkpoint_every_steps``
        optimizer steps and when cancelled: never twice at one step and never with a
        non-finite loss or weights. A cancel (checked before each optimizer step's first
        batch) ends the iteration early. Every ``eval_every_steps`` optimizer steps (but an
        epoch's last) ``on_eval(step, val_loss)`` gets a validation loss. ``forward`` (e.g.
        a compiled ``model``) replaces ``model``'s call in training; metric epochs are
        1-based, ``TrainPosition`` epochs 0-based. ``collective`` and ``no_sync`` train one
        rank of several (see the module's docstring).

        Raises:
            ModelTrainerError: ``TRAINING_NAN_LOSS``, ``TRAINING_DIVERGED``, and
                ``TRAINING_OOM`` or ``CUDA_OOM`` when the device runs out of memory;
                ``INTERNAL_ERROR`` when the process group fails (another rank died).
        """
        try:
            yield from self._epochs(
                model=model,
                forward=model if forward is None else forward,
                optimizer=optimizer,
                scheduler=scheduler,
                train=train,
                val=val,
                num_epochs=num_epochs,
                device=device,
                precision=precision,
                callbacks=callbacks,
                grad_clip=grad_clip,
                accum=grad_accum_steps,
                eval_every_steps=eval_every_steps,
                epoch_steps=epoch_length(train.steps_per_epoch, max_steps_per_epoch),
                checkpoint_every_steps=checkpoint_every_steps,
                progress_interval_s=progress_interval_s,
                start=start,
                history=history,
                on_checkpoint=on_checkpoint,
                on_eval=on_eval,
                collective=collective,
                no_sync=no_sync,
            )
        except RuntimeError as exc:
            code = oom_code(exc, device)
            if code is None and collective.active:
                raise group_failed(collective.rank, collective.world_size, "training", exc) from exc
            if code is None:
                raise
            raise ModelTrainerError(
                code,
                f"{device} ran out of memory with batch_size={train.batch_size} and "
                f"max_seq_len={train.seq_len}; lower them (grad_accum_steps keeps the "
                f"effective batch)",
            ) from exc

    def _epochs(
        self,
        *,
        model: LMModelProto,
        forward: Forward,
        optimizer: Optimizer,
        scheduler: LRScheduler,
        train: TokenWindows,
        val: TokenWindows | None,
        num_epochs: int,
        device: str,
        precision: ResolvedPrecision,
        callbacks: TrainingCallbacks,
        grad_clip: float,
        accum: int,
        eval_every_steps: int,
        epoch_steps: int,
        checkpoint_every_steps: int,
        progress_interval_s: float,
        start: TrainPosition,
        history: list[EpochMetrics],
        on_checkpoint: OnCheckpoint,
        on_eval: OnEval | None,
        collective: Collective,
        no_sync: NoSync,
    ) -> Iterator[EpochMetrics]:
        params = list(model.parameters())
        done = list(history)
        position: TrainPosition = {**start}
        saved_step = start["global_step"]
        model.train()
        for epoch in range(start["epoch"], num_epochs):
            tally = _Tally(epoch=epoch, steps=epoch_steps, position=position, device=device)
            batches = train.batches(epoch, position["step_in_epoch"], epoch_steps)
            for index, (cpu_inputs, cpu_targets) in enumerate(batches, start=tally.first):
                if index % accum == 0 and collective.any(callbacks["cancelled"]()):
                    if position["global_step"] != saved_step:
                        at = self._mid_epoch(
                            tally, index, position, params, callbacks, collective=collective
                        )
                        on_checkpoint(at, done)
                    return
                inputs = cpu_inputs.to(device, non_blocking=True)  # (B, T)
                targets = cpu_targets.to(device, non_blocking=True)  # (B, T)
                closes = (index + 1) % accum == 0 or index + 1 == epoch_steps  # ends an update
                with contextlib.nullcontext() if closes else no_sync():
                    with autocast(device, precision):
                        logits = forward(inputs)  # (B, T, V)
                        loss = functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
                    group = min(accum, epoch_steps - index + index % accum)  # batches in update
                    torch.autograd.backward(loss if group == 1 else loss / group)
                tally.add(index, loss, targets.numel())
                if not closes:
                    continue
                if grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                position["global_step"] += 1
                step = position["global_step"]
                if time.perf_counter() - tally.last_read >= progress_interval_s:
                    self._read(tally, index + 1, position, callbacks)
                mid_epoch = index + 1 < epoch_steps
                if (
                    val is not None
                    and on_eval is not None
                    and mid_epoch
                    and eval_every_steps
                    and step % eval_every_steps == 0
                ):
                    since = time.perf_counter()
                    eval_loss, _ = evaluate_loss(
                        model, val, device, precision, collective=collective
                    )
                    model.train()
                    on_eval(step, eval_loss)
                    tally.pause(since)
                if mid_epoch and checkpoint_every_steps and step % checkpoint_every_steps == 0:
                    since = time.perf_counter()
                    at = self._mid_epoch(
                        tally, index + 1, position, params, callbacks, collective=collective
                    )
                    on_checkpoint(at, done)
                    saved_step = step
                    tally.pause(since)
            self._read(tally, epoch_steps, position, callbacks)
            loss_sum, tokens = tally.totals(epoch_steps, collective)
            elapsed = tally.elapsed()
            val_loss = None
            if val is not None:
                val_loss, _ = evaluate_loss(model, val, device, precision, collective=collective)
                model.train()
            epoch_loss = loss_sum / tokens
            metrics: EpochMetrics = {
                "epoch": epoch + 1,
                "global_step": position["global_step"],
                "steps": epoch_steps,
                "elapsed_s": elapsed,
                "loss": epoch_loss,
                "perplexity": perplexity(epoch_loss),
                "val_loss": val_loss,
                "val_perplexity": None if val_loss is None else perplexity(val_loss),
                "tokens_per_second": tokens / max(elapsed, 1e-9),
                "learning_rate": float(scheduler.get_last_lr()[0]),
            }
            done.append(metrics)
            position = {
                "epoch": epoch + 1,
                "step_in_epoch": 0,
                "global_step": position["global_step"],
                "loss_sum": 0.0,
                "tokens": 0,
                "elapsed_s": 0.0,
                "best_reading": position["best_reading"],
            }
            self._require_finite(params, position["global_step"])
            on_checkpoint({**position}, done)
            saved_step = position["global_step"]
            yield metrics

    def _read(
        self, tally: _Tally, until: int, position: TrainPosition, callbacks: TrainingCallbacks
    ) -> None:
        mean = tally.window_mean(until)
        if mean is None:
            return
        best = position["best_reading"]
        check_loss(mean, best, step=position["global_step"])
        position["best_reading"] = mean if best is None else min(best, mean)
        callbacks["heartbeat"](time.time())
        progress = callbacks["progress"]
        if progress is not None:
            progress(position["global_step"], tally.epoch + 1, mean)

    def _require_finite(self, params: list[Parameter], step: int) -> None:
        if not finite_weights(params):
            raise ModelTrainerError(
                "TRAINING_NAN_LOSS",
                f"weights became NaN or infinite by step {step}; lower learning_rate or set "
                f"grad_clip",
            )

    def _mid_epoch(
        self,
        tally: _Tally,
        until: int,
        position: TrainPosition,
        params: list[Parameter],
        callbacks: TrainingCallbacks,
        *,
        collective: Collective,
    ) -> TrainPosition:
        """The position after batch ``until``, once its loss and weights are checked."""
        self._read(tally, until, position, callbacks)
        self._require_finite(params, position["global_step"])
        loss_sum, tokens = tally.totals(until, collective)
        return {
            **position,
            "step_in_epoch": until,
            "loss_sum": loss_sum,
            "tokens": tokens,
            "elapsed_s": tally.elapsed(),
        }

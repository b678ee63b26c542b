"""The training loop, the same for every model family, read top to bottom.

``run_training`` sets one run up (windows over the run's encoded data, optimizer, schedule,
resume from the last checkpoint, the process group's wrapper) and drives
``BaseTrainer.train_epochs``, the loop itself: for each batch a cancel check, the batch,
forward, backward, and for each update clip, step, schedule, reading, evaluation and
checkpoint; at each epoch's end the epoch's exact loss, a full validation and a checkpoint.

Per-batch losses stay on the device until a reading: when ``progress_interval_s`` of wall
time has passed, at a checkpoint and at the end of an epoch. A reading checks the loss
(finite, not diverged) and calls the reading callbacks; an epoch's loss is summed from its
per-batch losses in a fixed order, so it does not depend on when readings happened.

Checkpoints live in ``<run_dir>/checkpoint``; the metric history lives in them, so a run
resumed (or a cancelled one read back with ``load_history``) keeps every epoch it finished,
and continues at the exact batch it stopped at.

In a process group (``distributed.process_group``) the same call trains one rank of
several: the model is wrapped in ``DistributedDataParallel`` (gradients averaged over the
ranks; ``no_sync`` skips the exchange on every micro-batch but an update's last), each rank
reads its slice of every global batch and validates on its share of the validation windows,
the stop is a vote taken before each update, readings stay local (rank 0 reports its own
slice's loss), only rank 0 writes checkpoints, and every rank resumes from rank 0's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from model_trainer.core.config.settings import load_settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import (
    EpochMetrics,
    LMModelProto,
    ModelTrainConfig,
    PreparedLMModel,
    TrainingCallbacks,
    TrainOutcome,
    TrainRun,
)
from model_trainer.core.contracts.units import perplexity
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import (
    TrainPosition,
    capture_checkpoint,
    checkpoint_dir,
    is_new_best,
    save_best,
    save_checkpoint,
    start_position,
)
from model_trainer.core.training.compile import compile_pays
from model_trainer.core.training.dataset import TokenWindows, epoch_length, plan_training, rank_part
from model_trainer.core.training.device import resolve_precision
from model_trainer.core.training.distributed import (
    SOLO,
    Collective,
    Forward,
    NoSync,
    current_collective,
    group_failed,
    parallel,
)
from model_trainer.core.training.early_stop import early_stopping, should_stop
from model_trainer.core.training.evaluate import evaluate_loss, sample_windows
from model_trainer.core.training.loader import Batches, TrainLoader, batches_of
from model_trainer.core.training.loss import (
    LossFn,
    check_loss,
    cross_entropy,
    loss_unit_of,
    oom_code,
    require_finite,
)
from model_trainer.core.training.optimizer import make_optimizer
from model_trainer.core.training.options import EVAL_QUIET_S, EVAL_STAGE, LoopOptions
from model_trainer.core.training.outcome import train_outcome
from model_trainer.core.training.resume import resume_run
from model_trainer.core.training.schedule import build_scheduler
from model_trainer.core.training.step import backward, update
from model_trainer.core.training.tally import EpochTally

OnCheckpoint = Callable[[TrainPosition, list[EpochMetrics]], None]


def _every(step: int, interval: int) -> bool:
    return interval > 0 and step % interval == 0


def _no_checkpoint(position: TrainPosition, history: list[EpochMetrics]) -> None:
    """An ``on_checkpoint`` that keeps nothing."""


class _Loop:
    """The state of one call of ``train_epochs``: what it trains with and where it stands."""

    def __init__(
        self,
        *,
        model: LMModelProto,
        optimizer: Optimizer,
        scheduler: LRScheduler | None,
        val: TokenWindows | None,
        device: str,
        callbacks: TrainingCallbacks,
        cfg: ModelTrainConfig,
        options: LoopOptions,
        start: TrainPosition,
        history: Sequence[EpochMetrics],
        collective: Collective,
    ) -> None:
        self.model = model
        self.params = list(model.parameters())
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.val = val
        self.device = device
        self.callbacks = callbacks
        self.precision = resolve_precision(cfg["precision"], device)
        self.options = options
        self.collective = collective
        self.position: TrainPosition = {**start}
        self.history = list(history)
        self.saved_step = start["global_step"]
        self.tally = EpochTally(epoch=start["epoch"], steps=0, position=start, device=device)
        # The validation windows read mid-epoch and at an epoch's end: fixed for the run.
        self.mid_sample = self._sample(cfg["eval_max_tokens"])
        self.end_sample = self._sample(cfg["epoch_eval_max_tokens"])

    def _sample(self, max_tokens: int) -> Tensor | None:
        """A fixed sample of the validation windows (this rank's share of ``max_tokens``)."""
        if self.val is None:
            return None
        return sample_windows(self.val, -(-max_tokens // self.collective.world_size))

    def _evaluating(self) -> Callable[[int, int], None]:
        """Reports a long validation: its share done, a heartbeat, each whole percent."""
        started = time.perf_counter()
        quiet = self.options.get("eval_quiet_s", EVAL_QUIET_S)
        evaluating = self.callbacks.get("evaluating")
        last = [-1]

        def report(done: int, total: int) -> None:
            percent = done * 100 // total
            if percent == last[0] or time.perf_counter() - started < quiet:
                return
            last[0] = percent
            self.callbacks["heartbeat"](time.time())
            if evaluating is not None:
                evaluating(EVAL_STAGE, done / total)

        return report

    def rate(self) -> float:
        """The learning rate of the last update: the schedule's, else the optimizer's own."""
        if self.scheduler is None:
            return float(self.optimizer.param_groups[0]["lr"])
        return float(self.scheduler.get_last_lr()[0])

    def begin_epoch(self, epoch: int, steps: int) -> EpochTally:
        self.tally = EpochTally(
            epoch=epoch, steps=steps, position=self.position, device=self.device
        )
        return self.tally

    def read(self, until: int) -> None:
        """A reading of the batches before ``until``: check the loss, tell the callbacks."""
        window = self.tally.window(until)
        if window is None:
            return
        mean, tokens = window
        step = self.position["global_step"]
        best = self.position["best_reading"]
        check_loss(mean, best, step=step)
        self.position["best_reading"] = mean if best is None else min(best, mean)
        callbacks = self.callbacks
        callbacks["heartbeat"](time.time())
        progress = callbacks["progress"]
        if progress is not None:
            progress(until, self.tally.epoch, mean)
        reading = callbacks.get("reading")
        if reading is not None:
            reading(
                {
                    "step": step,
                    "epoch": self.tally.epoch + 1,
                    "loss": mean,
                    "learning_rate": self.rate(),
                    "tokens": tokens * self.collective.world_size,
                }
            )

    def validate(
        self,
        val: TokenWindows,
        chosen: Tensor | None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> float:
        """The validation loss over the windows ``chosen`` of ``val``."""
        loss, _ = evaluate_loss(
            self.model,
            val,
            self.device,
            self.precision,
            chosen,
            collective=self.collective,
            on_batch=on_batch,
        )
        self.model.train()
        return loss

    def mid_epoch(self, until: int) -> TrainPosition:
        """The position after batch ``until``, once its loss and weights are checked."""
        self.read(until)
        require_finite(self.params, self.position["global_step"])
        loss_sum, tokens = self.tally.totals(until, self.collective)
        self.saved_step = self.position["global_step"]
        return {
            **self.position,
            "step_in_epoch": until,
            "loss_sum": loss_sum,
            "tokens": tokens,
            "elapsed_s": self.tally.elapsed(),
        }

    def end_epoch(self, steps: int) -> EpochMetrics:
        """Close the epoch: its exact loss, a full validation, the position of the next."""
        self.read(steps)
        loss_sum, tokens = self.tally.totals(steps, self.collective)
        elapsed = self.tally.elapsed()
        val_loss = (
            None
            if self.val is None
            else self.validate(self.val, self.end_sample, on_batch=self._evaluating())
        )
        loss = loss_sum / tokens
        metrics: EpochMetrics = {
            "epoch": self.tally.epoch + 1,
            "global_step": self.position["global_step"],
            "steps": steps,
            "elapsed_s": elapsed,
            "loss": loss,
            "perplexity": perplexity(loss),
            "val_loss": val_loss,
            "val_perplexity": None if val_loss is None else perplexity(val_loss),
            "tokens_per_second": tokens / max(elapsed, 1e-9),
            "learning_rate": self.rate(),
        }
        self.history.append(metrics)
        self.position = {
            **start_position(),
            "epoch": self.tally.epoch + 1,
            "global_step": self.position["global_step"],
            "best_reading": self.position["best_reading"],
        }
        require_finite(self.params, self.position["global_step"])
        self.saved_step = self.position["global_step"]
        return metrics


@contextlib.contextmanager
def _coded_errors(device: str, train: Batches, collective: Collective) -> Iterator[None]:
    """Turn an out-of-memory failure, or a failed process group, into its coded error."""
    try:
        yield
    except RuntimeError as exc:
        code = oom_code(exc, device)
        if code is None and collective.active:
            raise group_failed(collective.rank, collective.world_size, "training", exc) from exc
        if code is None:
            raise
        raise ModelTrainerError(
            code,
            f"{device} ran out of memory with {train.sizes}; lower them (grad_accum_steps "
            "keeps the effective batch)",
        ) from exc


class BaseTrainer:
    """Trains any ``LMModelProto`` for epochs; yields each epoch's metrics."""

    def train_epochs(
        self,
        *,
        model: LMModelProto,
        optimizer: Optimizer,
        num_epochs: int,
        device: str,
        callbacks: TrainingCallbacks,
        scheduler: LRScheduler | None = None,
        cfg: ModelTrainConfig | None = None,
        options: LoopOptions | None = None,
        train: TokenWindows | None = None,
        train_loader: TrainLoader | None = None,
        val: TokenWindows | None = None,
        loss_fn: LossFn = cross_entropy,
        start: TrainPosition | None = None,
        history: Sequence[EpochMetrics] = (),
        on_checkpoint: OnCheckpoint = _no_checkpoint,
        forward: Forward | None = None,
        collective: Collective = SOLO,
        no_sync: NoSync = contextlib.nullcontext,
    ) -> Iterator[EpochMetrics]:
        """Train from ``start`` to the end of epoch ``num_epochs``, yielding each epoch's metrics.

        It trains on ``train`` (the kit's windows) or the spec's ``train_loader`` (any
        ``(inputs, targets)`` batches with a length, a ``DataLoader`` included: one pass an
        epoch, resumed only at an epoch's start); the knobs are ``cfg``'s (precision,
        clipping, accumulation, steps per epoch, evaluation, checkpoints, early stopping;
        default: the schema's defaults), ``options`` the rest (default: this process's
        settings). ``scheduler`` (default: none, the optimizer's rate throughout) steps after
        each update. The spec's call (model, optimizer, train_loader, num_epochs, device,
        callbacks, loss_fn) is one.
        ``history`` holds the epochs finished before ``start`` (a resumed run's);
        ``on_checkpoint(position, history)`` gets the position and every finished epoch at
        each epoch end (before its metrics are yielded), every ``checkpoint_every_steps``
        updates and when cancelled: never twice at one step and never with a non-finite loss
        or weights. A cancel ends the iteration early. Every ``eval_every_steps`` updates (but
        an epoch's last) ``callbacks["evaluated"]`` gets a validation loss over a fixed sample of
        ``eval_max_tokens`` validation tokens (0: all); an epoch's end reads
        ``epoch_eval_max_tokens`` of them (0: the whole split), and once it has run
        ``eval_quiet_s`` (default ``EVAL_QUIET_S``) reports each whole percent to
        ``callbacks["evaluating"]`` with a heartbeat. ``loss_fn`` is the
        training loss (default: cross-entropy). ``forward`` (e.g. a compiled ``model``)
        replaces ``model``'s call in training. Metric epochs are 1-based, ``TrainPosition``
        epochs 0-based. ``collective`` and ``no_sync`` train one rank of several.

        Raises:
            ModelTrainerError: ``TRAINING_NAN_LOSS``, ``TRAINING_DIVERGED``, and
                ``TRAINING_OOM`` or ``CUDA_OOM`` when the device runs out of memory;
                ``INTERNAL_ERROR`` when the process group fails (another rank died);
                ``INVALID_CONFIG`` unless exactly one of ``train`` and ``train_loader`` is
                given, the errors of ``LoaderBatches``.
        """
        # Setup: the loop's state in one object; an update closes every `accum` batches.
        source = batches_of(train, train_loader)
        cfg = train_config() if cfg is None else cfg
        if options is None:
            options = {"progress_interval_s": load_settings()["progress_interval_s"]}
        run = _Loop(
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            val=val,
            device=device,
            callbacks=callbacks,
            cfg=cfg,
            options=options,
            start=start_position() if start is None else start,
            history=history,
            collective=collective,
        )
        step_model = model if forward is None else forward
        accum = cfg["grad_accum_steps"]
        epoch_steps = epoch_length(source.steps_per_epoch, cfg["max_steps_per_epoch"])
        stopping = early_stopping(cfg)
        evaluated = callbacks.get("evaluated")
        updated = callbacks.get("updated")
        model.train()
        with _coded_errors(device, source, collective):
            for epoch in range(run.position["epoch"], num_epochs):
                tally = run.begin_epoch(epoch, epoch_steps)
                batches = source.batches(epoch, tally.first, epoch_steps)
                for index, (cpu_inputs, cpu_targets) in enumerate(batches, start=tally.first):
                    # Cancel: voted on by every rank before an update's first batch.
                    if index % accum == 0 and collective.any(callbacks["cancelled"]()):
                        if run.position["global_step"] != run.saved_step:
                            on_checkpoint(run.mid_epoch(index), run.history)
                        return
                    # Batch: onto the device. Does it close an update?
                    inputs = cpu_inputs.to(device, non_blocking=True)  # (B, T)
                    targets = cpu_targets.to(device, non_blocking=True)  # (B, T)
                    closes = (index + 1) % accum == 0 or index + 1 == epoch_steps
                    # Forward and backward; ranks exchange gradients on an update's last batch.
                    with contextlib.nullcontext() if closes else no_sync():
                        loss = backward(
                            step_model,
                            loss_fn,
                            inputs,
                            targets,
                            device=device,
                            precision=run.precision,
                            group=min(accum, epoch_steps - index + index % accum),
                        )
                    tally.add(index, loss, targets.numel())
                    if not closes:
                        continue
                    # Clip, step, schedule.
                    update(run.params, optimizer, scheduler, cfg["grad_clip"])
                    run.position["global_step"] += 1
                    step = run.position["global_step"]
                    # Reading: the loss leaves the device only every progress_interval_s.
                    if time.perf_counter() - tally.last_read >= options["progress_interval_s"]:
                        run.read(index + 1)
                    mid_epoch = index + 1 < epoch_steps
                    # Evaluation every eval_every_steps updates (an epoch's end has its own).
                    if mid_epoch and val is not None and _every(step, cfg["eval_every_steps"]):
                        since = time.perf_counter()
                        val_loss = run.validate(val, run.mid_sample)
                        if evaluated is not None:
                            evaluated(step, val_loss)
                        tally.pause(since)
                    # Whoever watches each update (a sample every N steps) works off the clock.
                    if mid_epoch and updated is not None:
                        since = time.perf_counter()
                        updated(step, epoch + 1)
                        tally.pause(since)
                    # Checkpoint every checkpoint_every_steps updates (and at each epoch end).
                    if mid_epoch and _every(step, cfg["checkpoint_every_steps"]):
                        since = time.perf_counter()
                        on_checkpoint(run.mid_epoch(index + 1), run.history)
                        tally.pause(since)
                # Epoch end: the epoch's exact loss, a full validation, a checkpoint.
                metrics = run.end_epoch(epoch_steps)
                on_checkpoint({**run.position}, run.history)
                yield metrics
                # Early stopping: the run ends once its watched loss stops improving.
                if should_stop(run.history, stopping):
                    return


def _windows(
    ids: Tensor, cfg: ModelTrainConfig, collective: Collective, *, training: bool
) -> TokenWindows:
    """The training windows (this rank's slice of each batch) or validation share of ``ids``."""
    rank, world = collective.rank, collective.world_size
    if training:
        name = "the training split"
    elif collective.active:
        name = f"the validation split's share for rank {rank}"
    else:
        name = "the validation split"
    return TokenWindows(
        ids if training else rank_part(ids, cfg["max_seq_len"], rank, world),
        seq_len=cfg["max_seq_len"],
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        shuffle=training,
        name=name,
        rank=rank if training else 0,
        world_size=world if training else 1,
    )


def _run_of(callbacks: TrainingCallbacks) -> TrainRun:
    run = callbacks.get("run")
    if run is None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            "callbacks: the kit's loop trains the run a job prepares; callbacks['run'] "
            "(run_dir, resume, data, settings) is missing",
        )
    return run


def run_training(
    prepared: PreparedLMModel, cfg: ModelTrainConfig, callbacks: TrainingCallbacks
) -> TrainOutcome:
    """Train ``prepared["model"]`` in place on ``callbacks["run"]``'s data, checkpointing.

    The spec's ``train(prepared, cfg, callbacks)``: a family's table names it as its
    ``train``. With the run's ``resume`` it continues from the run's last checkpoint at the exact
    batch it stopped at. A cancel ends the run with a checkpoint and ``cancelled=True``.
    ``callbacks["epoch_end"]`` gets each epoch's metrics once its checkpoint is written. In a
    process group this trains one rank of several (see the module's docstring).

    Raises:
        ModelTrainerError: ``CORPUS_EMPTY`` (a split too short for one window),
            ``MODEL_NOT_FOUND`` (resume without a checkpoint), ``MODEL_INCOMPATIBLE`` (a
            checkpoint of another seed or model), ``TRAINING_NAN_LOSS``,
            ``TRAINING_DIVERGED``, ``TRAINING_OOM``, ``CUDA_OOM``; the last good checkpoint
            stays in place. ``INTERNAL_ERROR`` when the process group fails;
            ``INVALID_CONFIG`` when ``callbacks`` carries no ``run``.
    """
    context = _run_of(callbacks)
    collective = current_collective()
    collective.meet_once()
    device = prepared["device"]
    torch.manual_seed(cfg["seed"])
    data = context["data"]
    train = _windows(data["train_ids"], cfg, collective, training=True)
    val_ids = data["val_ids"]
    val = None if val_ids is None else _windows(val_ids, cfg, collective, training=False)
    model = prepared["model"].to(device)
    optimizer = make_optimizer(
        model.parameters(), lr=cfg["learning_rate"], weight_decay=cfg["weight_decay"], device=device
    )
    plan = plan_training(data["train_ids"].numel(), cfg, collective.world_size)
    scheduler = build_scheduler(
        optimizer, warmup_steps=cfg["warmup_steps"], total_steps=plan["total_updates"]
    )
    root = checkpoint_dir(context["run_dir"])
    position = start_position()
    history: list[EpochMetrics] = []
    if context["resume"]:
        position, history = resume_run(
            root,
            cfg,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            batches_per_epoch=plan["batches_per_epoch"],
        )
    trained, no_sync = parallel(model, collective)
    compiled = compile_pays(cfg["compile"], device, plan["total_updates"] - position["global_step"])

    def save(at: TrainPosition, done: list[EpochMetrics]) -> None:
        if collective.rank == 0:
            checkpoint = capture_checkpoint(
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                position=at,
                history=done,
                seed=cfg["seed"],
            )
            save_checkpoint(root, checkpoint)
            if at["step_in_epoch"] == 0 and done and is_new_best(done):
                save_best(root, checkpoint)
        position.update(at)

    epoch_end = callbacks.get("epoch_end")
    for metrics in BaseTrainer().train_epochs(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        train=train,
        val=val,
        num_epochs=cfg["num_epochs"],
        device=device,
        callbacks=callbacks,
        cfg=cfg,
        options={"progress_interval_s": context["settings"]["progress_interval_s"]},
        start={**position},
        history=history,
        on_checkpoint=save,
        forward=torch.compile(trained) if compiled else trained,
        collective=collective,
        no_sync=no_sync,
    ):
        history.append(metrics)
        if epoch_end is not None:
            epoch_end(metrics)
    return train_outcome(
        history=history,
        steps=position["global_step"],
        loss_unit=loss_unit_of(prepared["tokenizer"]),
        out_dir=context["run_dir"],
        num_epochs=cfg["num_epochs"],
        stopping=early_stopping(cfg),
    )

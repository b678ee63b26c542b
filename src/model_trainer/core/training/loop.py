"""One training run, the same for every model family: data, optimizer, resume, checkpoints.

``run_training`` is what each backend's ``train`` calls. Checkpoints live in
``<run_dir>/checkpoint``; the metric history lives in them, so a run resumed (or a
cancelled one read back with ``load_history``) keeps every epoch it finished.

In a process group (``distributed.process_group``) the same call trains one rank of
several: the model is wrapped in ``DistributedDataParallel`` (gradients averaged over the
ranks), each rank reads its slice of every global batch and validates on its share of the
validation windows, only rank 0 writes checkpoints, and every rank resumes from rank 0's.
The ``eval_every_steps`` validations then run on every rank, listened to or not, so all
ranks take part in each.
"""

from __future__ import annotations

import contextlib
import math
import os

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from model_trainer.core.contracts.model import (
    EpochMetrics,
    LMModelProto,
    ModelTrainConfig,
    PreparedLMModel,
    TrainContext,
    TrainOutcome,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.base_trainer import (
    BaseTrainer,
    Forward,
    NoSync,
    OnEval,
    epoch_length,
    make_optimizer,
    perplexity,
)
from model_trainer.core.training.checkpoint import (
    TrainPosition,
    capture_checkpoint,
    load_latest_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    start_position,
)
from model_trainer.core.training.corpus import load_corpus, split_text
from model_trainer.core.training.dataset import TokenWindows, encode_corpus, rank_part
from model_trainer.core.training.device import resolve_precision
from model_trainer.core.training.distributed import Collective, current_collective
from model_trainer.core.training.schedule import build_scheduler

CHECKPOINT_DIR = "checkpoint"


def checkpoint_dir(run_dir: str) -> str:
    """The folder of a run's checkpoints."""
    return os.path.join(run_dir, CHECKPOINT_DIR)


def load_history(run_dir: str) -> list[EpochMetrics]:
    """The metrics of every epoch a run finished (empty when it has no checkpoint)."""
    checkpoint = load_latest_checkpoint(checkpoint_dir(run_dir))
    return [] if checkpoint is None else checkpoint["meta"]["history"]


class _CheckpointWriter:
    """Saves checkpoints of one run and remembers the last position saved."""

    def __init__(
        self,
        *,
        root: str,
        model: LMModelProto,
        optimizer: Optimizer,
        scheduler: LRScheduler,
        seed: int,
        position: TrainPosition,
        writes: bool,
    ) -> None:
        self.root = root
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.seed = seed
        self.position = position
        self.writes = writes

    def __call__(self, position: TrainPosition, history: list[EpochMetrics]) -> None:
        if self.writes:
            checkpoint = capture_checkpoint(
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                position=position,
                history=history,
                seed=self.seed,
            )
            save_checkpoint(self.root, checkpoint)
        self.position = position


def _resume(
    root: str,
    cfg: ModelTrainConfig,
    *,
    model: LMModelProto,
    optimizer: Optimizer,
    scheduler: LRScheduler,
) -> tuple[TrainPosition, list[EpochMetrics]]:
    checkpoint = load_latest_checkpoint(root)
    if checkpoint is None:
        raise ModelTrainerError("MODEL_NOT_FOUND", f"resume: no checkpoint in {root}")
    meta = checkpoint["meta"]
    if meta["seed"] != cfg["seed"]:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"resume: seed={cfg['seed']} differs from the checkpoint's seed={meta['seed']}",
        )
    restore_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler)
    return meta["position"], meta["history"]


def _train_windows(
    text: str, prepared: PreparedLMModel, cfg: ModelTrainConfig, collective: Collective
) -> TokenWindows:
    return TokenWindows(
        encode_corpus(text, prepared["tok_for_dataset"]),
        seq_len=cfg["max_seq_len"],
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        name="the training split",
        rank=collective.rank,
        world_size=collective.world_size,
    )


def _val_windows(
    text: str, prepared: PreparedLMModel, cfg: ModelTrainConfig, collective: Collective
) -> TokenWindows:
    ids = encode_corpus(text, prepared["tok_for_dataset"])  # (N,)
    return TokenWindows(
        rank_part(ids, cfg["max_seq_len"], collective.rank, collective.world_size),
        seq_len=cfg["max_seq_len"],
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        shuffle=False,
        name=f"the validation split's share for rank {collective.rank}"
        if collective.active
        else "the validation split",
    )


def _discard(step: int, loss: float) -> None:
    """An ``on_eval`` that nobody listens to."""


def parallel(model: LMModelProto, collective: Collective) -> tuple[Forward, NoSync]:
    """The training call of ``model`` and its gradient-exchange switch.

    Alone: ``model`` itself, and nothing to switch. In a process group: ``model`` wrapped in
    ``DistributedDataParallel``, which starts from rank 0's weights and averages gradients,
    and its ``no_sync``.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` in a process group for a model that is not
            a ``torch.nn.Module``.
    """
    if not collective.active:
        return model, contextlib.nullcontext
    if not isinstance(model, nn.Module):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"training on {collective.world_size} processes needs a torch.nn.Module, "
            f"got a {type(model).__name__}",
        )
    wrapped = DistributedDataParallel(model)
    return wrapped, wrapped.no_sync


def run_training(
    prepared: PreparedLMModel,
    cfg: ModelTrainConfig,
    context: TrainContext,
    *,
    on_eval: OnEval | None = None,
) -> TrainOutcome:
    """Train ``prepared["model"]`` in place as ``cfg`` says, checkpointing into the run folder.

    With ``context["resume"]`` it continues from the run's last checkpoint at the exact
    batch it stopped at. A cancel ends the run with a checkpoint and ``cancelled=True``.
    ``on_eval(step, val_loss)`` receives the ``eval_every_steps`` validations. In a process
    group this trains one rank of several (see the module's docstring).

    Raises:
        ModelTrainerError: corpus errors, ``MODEL_NOT_FOUND`` (resume without a
            checkpoint), ``MODEL_INCOMPATIBLE`` (a checkpoint of another seed or model),
            ``TRAINING_NAN_LOSS``, ``TRAINING_DIVERGED``, ``TRAINING_OOM``, ``CUDA_OOM``; the
            last good checkpoint stays in place. ``INTERNAL_ERROR`` when the process group
            fails.
    """
    collective = current_collective()
    collective.meet_once()
    if collective.active and on_eval is None:
        on_eval = _discard
    device = prepared["device"]
    precision = resolve_precision(cfg["precision"], device)
    callbacks = context["callbacks"]
    torch.manual_seed(cfg["seed"])
    train_text, val_text = split_text(
        load_corpus(cfg["corpus_path"], context["settings"]), cfg["val_fraction"]
    )
    train = _train_windows(train_text, prepared, cfg, collective)
    val = _val_windows(val_text, prepared, cfg, collective) if val_text else None
    model = prepared["model"].to(device)
    optimizer = make_optimizer(
        model.parameters(), lr=cfg["learning_rate"], weight_decay=cfg["weight_decay"], device=device
    )
    updates = -(
        -epoch_length(train.steps_per_epoch, cfg["max_steps_per_epoch"]) // cfg["grad_accum_steps"]
    )
    scheduler = build_scheduler(
        optimizer, warmup_steps=cfg["warmup_steps"], total_steps=cfg["num_epochs"] * updates
    )
    root = checkpoint_dir(context["run_dir"])
    position = start_position()
    history: list[EpochMetrics] = []
    if context["resume"]:
        position, history = _resume(
            root, cfg, model=model, optimizer=optimizer, scheduler=scheduler
        )
    trained, no_sync = parallel(model, collective)
    forward: Forward = torch.compile(trained) if cfg["compile"] else trained
    writer = _CheckpointWriter(
        root=root,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        seed=cfg["seed"],
        position=position,
        writes=collective.rank == 0,
    )
    epochs = BaseTrainer().train_epochs(
        model=model,
        forward=forward,
        optimizer=optimizer,
        scheduler=scheduler,
        train=train,
        val=val,
        num_epochs=cfg["num_epochs"],
        device=device,
        precision=precision,
        callbacks=callbacks,
        grad_clip=cfg["grad_clip"],
        grad_accum_steps=cfg["grad_accum_steps"],
        eval_every_steps=cfg["eval_every_steps"],
        max_steps_per_epoch=cfg["max_steps_per_epoch"],
        checkpoint_every_steps=cfg["checkpoint_every_steps"],
        progress_interval_s=context["settings"]["progress_interval_s"],
        start=position,
        history=history,
        on_checkpoint=writer,
        on_eval=on_eval,
        collective=collective,
        no_sync=no_sync,
    )
    for metrics in epochs:
        history.append(metrics)
        epoch_end = callbacks["epoch_end"]
        if epoch_end is not None:
            epoch_end(metrics)
    last = history[-1] if history else None
    loss = math.nan if last is None else last["loss"]
    val_loss = None if last is None else last["val_loss"]
    return {
        "loss": loss,
        "perplexity": perplexity(loss),
        "val_loss": val_loss,
        "val_perplexity": None if val_loss is None else perplexity(val_loss),
        "loss_unit": "char" if prepared["tokenizer"].kind == "char" else "token",
        "steps": writer.position["global_step"],
        "epochs_completed": len(history),
        "tokens_per_second": 0.0 if last is None else last["tokens_per_second"],
        "out_dir": context["run_dir"],
        "cancelled": len(history) < cfg["num_epochs"],
    }

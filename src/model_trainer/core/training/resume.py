"""A run's resume: its latest checkpoint, checked against the run, restored in place."""

from __future__ import annotations

import os

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from model_trainer.core.contracts.model import (
    EpochMetrics,
    LMModelProto,
    ModelTrainConfig,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import (
    STATE_FILE,
    TrainPosition,
    latest_name,
    load_latest_checkpoint,
    restore_checkpoint,
)
from model_trainer.core.training.checkpoint_meta import check_meta


def resume_run(
    root: str,
    cfg: ModelTrainConfig,
    *,
    model: LMModelProto,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    batches_per_epoch: int,
) -> tuple[TrainPosition, list[EpochMetrics]]:
    """Restore the latest checkpoint under ``root`` into the model, optimizer and scheduler.

    Returns where training stands and the finished epochs' metrics.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` without a checkpoint, ``MODEL_INCOMPATIBLE``
            for another seed, the errors of ``check_meta`` for a state that does not fit.
    """
    name = latest_name(root)
    checkpoint = load_latest_checkpoint(root)
    if name is None or checkpoint is None:
        raise ModelTrainerError("MODEL_NOT_FOUND", f"resume: no checkpoint in {root}")
    meta = checkpoint["meta"]
    check_meta(
        meta,
        os.path.join(root, name, STATE_FILE),
        num_epochs=cfg["num_epochs"],
        batches_per_epoch=batches_per_epoch,
    )
    if meta["seed"] != cfg["seed"]:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"resume: seed={cfg['seed']} differs from the checkpoint's seed={meta['seed']}",
        )
    restore_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler)
    return meta["position"], meta["history"]

"""Checkpoints: everything a run needs to continue from the exact step it stopped at.

A checkpoint folder ``ckpt-<global_step>`` holds ``model.safetensors`` (weights),
``optimizer.pt`` (optimizer state, read with ``weights_only=True``), ``rng.safetensors``
(torch CPU and CUDA random states) and ``state.json`` (position, scheduler, metric history,
best loss, seed). A save writes ``ckpt-<step>.tmp``, renames it, then atomically replaces the
file ``LATEST`` with the folder's name and deletes older folders, so a kill at any moment
leaves ``LATEST`` naming a complete folder.

Beside them, ``best/`` holds the checkpoint of the epoch with the lowest watched loss
(validation, else training), saved the same crash-safe way (``save_best``); ``load_run(...,
which="best")`` loads its weights.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from collections.abc import Sequence
from typing import Literal, TypedDict

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from model_trainer.core.contracts.model import EpochMetrics, LMModelProto
from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing
from model_trainer.core.training.early_stop import watched_loss

CHECKPOINT_DIR = "checkpoint"
"""The folder of a run's checkpoints, in its run folder."""
LATEST = "LATEST"
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.safetensors"
STATE_FILE = "state.json"
FOLDER_PREFIX = "ckpt-"
TMP_SUFFIX = ".tmp"
BEST_DIR = "best"
_FOLDER_NAME = re.compile(r"ckpt-\d+")
Which = Literal["last", "best"]
"""Which weights of a run to load: its last (the saved model) or its best checkpoint's."""


class TrainPosition(TypedDict):
    """Where a run stands; a run resumed from it continues with the very next batch.

    ``epoch`` is the 0-based index of the epoch in progress and ``step_in_epoch`` the number
    of its batches already trained; ``global_step`` counts optimizer updates. ``loss_sum``
    (nats), ``tokens`` and ``elapsed_s`` are the epoch's figures so far. ``best_reading`` is
    the lowest progress reading of the training loss, the yardstick of divergence.
    """

    epoch: int
    step_in_epoch: int
    global_step: int
    loss_sum: float
    tokens: int
    elapsed_s: float
    best_reading: float | None


class CheckpointMeta(TypedDict):
    """The JSON part of a checkpoint (``state.json``)."""

    position: TrainPosition
    scheduler: dict[str, object]
    history: list[EpochMetrics]
    best_loss: float | None
    seed: int


class Checkpoint(TypedDict):
    """A whole checkpoint in memory: weights, optimizer state, random states and meta."""

    weights: dict[str, Tensor]
    optimizer: dict[str, object]
    rng: dict[str, Tensor]
    meta: CheckpointMeta


def start_position() -> TrainPosition:
    """The position of a run that has not trained yet."""
    return {
        "epoch": 0,
        "step_in_epoch": 0,
        "global_step": 0,
        "loss_sum": 0.0,
        "tokens": 0,
        "elapsed_s": 0.0,
        "best_reading": None,
    }


def best_loss(history: Sequence[EpochMetrics]) -> float | None:
    """The lowest epoch loss of ``history``: validation loss where there is one."""
    return min((watched_loss(m) for m in history), default=None)


def is_new_best(history: Sequence[EpochMetrics]) -> bool:
    """Whether the last epoch of ``history`` has a lower watched loss than every one before."""
    if not history:
        return False
    before = best_loss(history[:-1])
    return before is None or watched_loss(history[-1]) < before


def capture_rng() -> dict[str, Tensor]:
    """The torch CPU random state and, where CUDA is present, each device's state."""
    cuda = {f"cuda:{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())}
    return {"cpu": torch.get_rng_state(), **cuda}


def restore_rng(states: dict[str, Tensor]) -> None:
    """Set the random states saved by ``capture_rng`` (CUDA ones for devices present)."""
    torch.set_rng_state(states["cpu"])
    names = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    torch.cuda.set_rng_state_all([states[name] for name in names if name in states])


def capture_checkpoint(
    *,
    model: LMModelProto,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    position: TrainPosition,
    history: list[EpochMetrics],
    seed: int,
) -> Checkpoint:
    """Copy the training state; weights become contiguous CPU tensors sharing no storage."""
    weights = {
        name: value.detach().to("cpu", copy=True).contiguous()
        for name, value in model.state_dict().items()
    }
    meta: CheckpointMeta = {
        "position": {**position},
        "scheduler": scheduler.state_dict(),
        "history": [{**m} for m in history],
        "best_loss": best_loss(history),
        "seed": seed,
    }
    return {
        "weights": weights,
        "optimizer": optimizer.state_dict(),
        "rng": capture_rng(),
        "meta": meta,
    }


def restore_checkpoint(
    checkpoint: Checkpoint, *, model: LMModelProto, optimizer: Optimizer, scheduler: LRScheduler
) -> None:
    """Load weights, optimizer and scheduler state and the random states into a run.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the weights do not fit ``model``.
    """
    restore_weights(checkpoint, model)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["meta"]["scheduler"])
    restore_rng(checkpoint["rng"])


def restore_weights(checkpoint: Checkpoint, model: LMModelProto) -> None:
    """Load the weights of ``checkpoint`` into ``model``.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the weights do not fit ``model``.
    """
    try:
        model.load_state_dict(checkpoint["weights"])
    except RuntimeError as exc:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE", f"checkpoint weights do not fit the model: {exc}"
        ) from exc


def latest_name(root: str) -> str | None:
    """The newest complete checkpoint folder of ``root``, or None when it has none.

    A folder is complete once renamed from ``.tmp``; the newest is the highest step among
    those and the one ``LATEST`` names, so a kill between the rename and ``LATEST`` loses
    nothing.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` when ``LATEST`` names no checkpoint folder.
    """
    if not os.path.isdir(root):
        return None
    names = [entry for entry in os.listdir(root) if _FOLDER_NAME.fullmatch(entry)]
    path = os.path.join(root, LATEST)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as file:
            name = file.read().strip()
        if not _FOLDER_NAME.fullmatch(name):
            raise ModelTrainerError(
                "MODEL_LOAD_FAILED", f"{path} names {name!r}, not a checkpoint folder"
            )
        names.append(name)
    return max(names, key=lambda name: int(name.removeprefix(FOLDER_PREFIX)), default=None)


def tmp_dir(root: str, checkpoint: Checkpoint) -> str:
    """The folder ``root/ckpt-<global_step>.tmp`` that ``checkpoint`` is written into first."""
    step = checkpoint["meta"]["position"]["global_step"]
    return os.path.join(root, f"{FOLDER_PREFIX}{step}{TMP_SUFFIX}")


def write_checkpoint_dir(root: str, checkpoint: Checkpoint) -> str:
    """Write ``checkpoint`` into ``tmp_dir(root, checkpoint)``, synced; return that path."""
    tmp = tmp_dir(root, checkpoint)
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    save_file(checkpoint["weights"], os.path.join(tmp, WEIGHTS_FILE))
    torch.save(checkpoint["optimizer"], os.path.join(tmp, OPTIMIZER_FILE))
    save_file(checkpoint["rng"], os.path.join(tmp, RNG_FILE))
    with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as file:
        json.dump(checkpoint["meta"], file, indent=1)
    for name in (WEIGHTS_FILE, OPTIMIZER_FILE, RNG_FILE, STATE_FILE):
        with open(os.path.join(tmp, name), "rb") as written:
            os.fsync(written.fileno())
    return tmp


def publish_checkpoint_dir(tmp: str) -> str:
    """Rename a written ``.tmp`` folder to its final name and return that name.

    Raises:
        ModelTrainerError: ``ARTIFACT_UPLOAD_FAILED`` when the final folder is the one
            ``LATEST`` names (it is never replaced in place).
    """
    final = tmp.removesuffix(TMP_SUFFIX)
    root, name = os.path.split(final)
    if latest_name(root) == name:
        raise ModelTrainerError(
            "ARTIFACT_UPLOAD_FAILED", f"checkpoint {final} exists and is the latest; not replaced"
        )
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)
    return name


def point_latest(root: str, name: str) -> None:
    """Make ``root/LATEST`` name folder ``name``, atomically (temp file, then replace)."""
    tmp = os.path.join(root, LATEST + TMP_SUFFIX)
    with open(tmp, "w", encoding="utf-8") as file:
        file.write(name)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, os.path.join(root, LATEST))


def prune_checkpoints(root: str, keep: str) -> None:
    """Delete every checkpoint folder of ``root`` (finished or not) except ``keep``."""
    for entry in os.listdir(root):
        if entry.startswith(FOLDER_PREFIX) and entry != keep:
            shutil.rmtree(os.path.join(root, entry))


def save_checkpoint(root: str, checkpoint: Checkpoint) -> str:
    """Save ``checkpoint`` under ``root`` crash-safely and return its folder path.

    Raises:
        ModelTrainerError: ``ARTIFACT_UPLOAD_FAILED`` naming the path and the cause (no
            space, too large, read-only, not a folder) when the machine refuses a write; the
            checkpoint ``LATEST`` named before stays whole.
    """
    try:
        with writing(root, RuntimeError, SafetensorError):
            os.makedirs(root, exist_ok=True)
            name = publish_checkpoint_dir(write_checkpoint_dir(root, checkpoint))
            point_latest(root, name)
            prune_checkpoints(root, name)
    finally:  # a write cut short frees its space; a published folder is no longer there
        shutil.rmtree(tmp_dir(root, checkpoint), ignore_errors=True)
    return os.path.join(root, name)


def load_failed(path: str, detail: str) -> ModelTrainerError:
    """``MODEL_LOAD_FAILED`` naming the checkpoint file at ``path`` and what is wrong."""
    return ModelTrainerError("MODEL_LOAD_FAILED", f"checkpoint file {path}: {detail}")


def _existing(folder: str, name: str) -> str:
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise load_failed(path, "missing")
    return path


def _tensors(folder: str, name: str) -> dict[str, Tensor]:
    path = _existing(folder, name)
    try:
        return load_file(path)
    except SafetensorError as exc:
        raise load_failed(path, f"not a safetensors file ({exc})") from exc


def _optimizer_state(folder: str) -> dict[str, object]:
    path = _existing(folder, OPTIMIZER_FILE)
    try:
        loaded: object = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise load_failed(
            path,
            "not an optimizer state the kit wrote: the safe reader (tensors, numbers and "
            "lists only) refused it, as damaged or holding objects that only unpickling "
            "could rebuild, and unpickling can run any code, so the kit never does; restore "
            "the run's checkpoint folder, or start the run again",
        ) from exc
    except (RuntimeError, EOFError) as exc:
        raise load_failed(path, f"not a torch file ({exc})") from exc
    return _object(loaded, ("state", "param_groups"), "the optimizer state", path)


def _object(value: object, keys: tuple[str, ...], what: str, path: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise load_failed(path, f"{what} is not an object: {value!r}")
    data = {str(key): item for key, item in value.items()}
    missing = [key for key in keys if key not in data]
    if missing:
        raise load_failed(path, f"{what} lacks {', '.join(missing)}")
    return data


def read_meta(path: str) -> CheckpointMeta:
    """Read and check a ``state.json`` file.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` naming ``path`` when it is missing, not
            JSON, or lacks a field or has one of the wrong type.
    """
    if not os.path.isfile(path):
        raise load_failed(path, "missing")
    return read_typed(
        path,
        CheckpointMeta,
        where=f"checkpoint file {path}",
        code="MODEL_LOAD_FAILED",
        unknown="ignore",
    )


def load_checkpoint(folder: str) -> Checkpoint:
    """Read a checkpoint folder.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` naming the file that is missing or corrupt.
    """
    rng = _tensors(folder, RNG_FILE)
    if "cpu" not in rng:
        raise load_failed(os.path.join(folder, RNG_FILE), "holds no CPU random state")
    return {
        "weights": _tensors(folder, WEIGHTS_FILE),
        "optimizer": _optimizer_state(folder),
        "rng": rng,
        "meta": read_meta(os.path.join(folder, STATE_FILE)),
    }


def load_latest_checkpoint(root: str) -> Checkpoint | None:
    """Read the newest complete checkpoint of ``root`` (``latest_name``), or None.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` when ``LATEST`` names a missing or
            corrupt folder.
    """
    name = latest_name(root)
    if name is None:
        return None
    return load_checkpoint(os.path.join(root, name))


def best_root(root: str) -> str:
    """The folder of the best checkpoint among a run's checkpoints in ``root``."""
    return os.path.join(root, BEST_DIR)


def save_best(root: str, checkpoint: Checkpoint) -> str:
    """Save ``checkpoint`` as the run's best (``root/best``), crash-safely; return its path."""
    return save_checkpoint(best_root(root), checkpoint)


def load_best(root: str) -> Checkpoint:
    """The best checkpoint of the run whose checkpoints are in ``root``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when the run has saved no best checkpoint;
            ``MODEL_LOAD_FAILED`` when it is damaged.
    """
    checkpoint = load_latest_checkpoint(best_root(root))
    if checkpoint is None:
        raise ModelTrainerError(
            "MODEL_NOT_FOUND", f"which='best': no best checkpoint in {best_root(root)}"
        )
    return checkpoint


def use_weights(model: LMModelProto, root: str, which: str) -> None:
    """Give ``model`` the weights ``which`` names: kept as they are for ``last``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for another ``which``; as ``load_best`` and
            ``restore_weights`` for ``best``.
    """
    if which not in ("last", "best"):
        raise ModelTrainerError("INVALID_CONFIG", f"which must be 'last' or 'best', got {which!r}")
    if which == "best":
        restore_weights(load_best(root), model)


def checkpoint_dir(run_dir: str) -> str:
    """The folder of a run's checkpoints."""
    return os.path.join(run_dir, CHECKPOINT_DIR)


def load_history(run_dir: str) -> list[EpochMetrics]:
    """The metrics of every epoch a run finished (empty when it has no checkpoint)."""
    checkpoint = load_latest_checkpoint(checkpoint_dir(run_dir))
    return [] if checkpoint is None else checkpoint["meta"]["history"]

"""Training on several processes: the process group, each rank's place, small collectives.

torchrun starts one process per rank and tells each where it stands through the
environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``). ``process_group`` joins this process to the group (NCCL for CUDA, Gloo
otherwise) and makes its ``Collective`` the one ``current_collective`` returns; the training
loop asks for it, so a backend trains on one process or on many without knowing which.

A ``Collective`` sums loss and token counts over the ranks, takes the stop vote, meets the
other ranks once before training, and sends rank 0's run id to all. These run on the CPU
over Gloo (a Gloo group beside an NCCL one), so none of them waits for a GPU. Every call has
the group's timeout: a rank that dies or stops answering fails the others with an error
instead of leaving them waiting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Final, Literal, TypedDict

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from model_trainer.core.contracts.model import LMModelProto
from model_trainer.core.errors import ModelTrainerError

Forward = Callable[[Tensor], Tensor]
"""The training call of a model: token ids ``(B, T)`` in, logits ``(B, T, V)`` out."""
NoSync = Callable[[], AbstractContextManager[None]]
"""A switch that skips the gradient exchange of the micro-batches inside it."""

Backend = Literal["nccl", "gloo"]

TIMEOUT_ENV: Final = "MODEL_TRAINER_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S: Final = 600.0
"""How long a collective waits for the other ranks (rank 0 builds the tokenizer meanwhile)."""


class WorldInfo(TypedDict):
    """This process's place among the training processes (torchrun's variables)."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int


SOLO_WORLD: Final[WorldInfo] = {"rank": 0, "local_rank": 0, "world_size": 1, "local_world_size": 1}


def _env_int(env: Mapping[str, str], name: str, default: int, lowest: int) -> int:
    raw = env.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < lowest:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"{name} must be an integer >= {lowest}, got {raw!r}"
        )
    return int(raw)


def world_from_env(env: Mapping[str, str]) -> WorldInfo:
    """This process's ``WorldInfo`` from torchrun's variables; one process when they are absent.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming a variable that is not a count, or a
            rank outside its world.
    """
    world: WorldInfo = {
        "rank": _env_int(env, "RANK", 0, 0),
        "local_rank": _env_int(env, "LOCAL_RANK", 0, 0),
        "world_size": _env_int(env, "WORLD_SIZE", 1, 1),
        "local_world_size": _env_int(env, "LOCAL_WORLD_SIZE", 1, 1),
    }
    if world["rank"] >= world["world_size"] or world["local_rank"] >= world["local_world_size"]:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"RANK={world['rank']} must be below WORLD_SIZE={world['world_size']} and "
            f"LOCAL_RANK={world['local_rank']} below LOCAL_WORLD_SIZE="
            f"{world['local_world_size']}",
        )
    return world


def under_torchrun(env: Mapping[str, str]) -> bool:
    """Whether ``env`` is that of one of several training processes (``WORLD_SIZE`` > 1)."""
    return world_from_env(env)["world_size"] > 1


def timeout_from_env(env: Mapping[str, str]) -> float:
    """Seconds a collective waits: ``MODEL_TRAINER_DIST_TIMEOUT_S``, default 600.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when it is not a positive number.
    """
    raw = env.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S)).strip()
    if not raw.replace(".", "", 1).isdigit() or float(raw) <= 0:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}"
        )
    return float(raw)


def backend_for(device: str) -> Backend:
    """The process-group backend of a training device: NCCL for CUDA, Gloo for the rest."""
    return "nccl" if device.startswith("cuda") else "gloo"


def check_rank_device(device: str) -> None:
    """Refuse ``cuda:N`` as the device of a torchrun rank: each trains on its local rank's GPU.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``device`` and the value.
    """
    if ":" in device:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"device must be auto, cuda or cpu under torchrun (each rank trains on the GPU of "
            f"its local rank; CUDA_VISIBLE_DEVICES picks the GPUs), got {device!r}",
        )


def cuda_index(device: str, local_rank: int) -> int:
    """The CUDA device a rank trains on: its local rank on CUDA; -1 (none) elsewhere."""
    return local_rank if device.startswith("cuda") else -1


def group_failed(rank: int, world_size: int, what: str, exc: BaseException) -> ModelTrainerError:
    """The error of a rank whose process group failed while it was doing ``what``."""
    return ModelTrainerError(
        "INTERNAL_ERROR",
        f"rank {rank} of {world_size}: the process group failed during {what} ({exc}); "
        f"another rank died or stopped answering (torchrun's log names the first failure); "
        f"resume the run to continue from its last checkpoint",
    )


class Collective:
    """The small collectives of training, over every rank of a group or over this process alone.

    ``active`` is False for a process that trains alone: then sums and votes are its own
    values and meetings return at once. ``group`` is the process group to use (None: the
    default group).
    """

    def __init__(
        self, *, rank: int, world_size: int, active: bool, group: dist.ProcessGroup | None
    ) -> None:
        self.rank = rank
        self.world_size = world_size
        self.active = active
        self.group = group
        self._met = not active

    def _call(self, what: str, operation: Callable[[], object]) -> None:
        try:
            operation()
        except RuntimeError as exc:
            raise group_failed(self.rank, self.world_size, what, exc) from exc

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the ranks (float64)."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64)  # (N,)
        self._call("a sum of losses", lambda: dist.all_reduce(tensor, group=self.group))
        return [float(value) for value in tensor.tolist()]

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is True on any rank (every rank gets the same answer)."""
        if not self.active:
            return flag
        tensor = torch.tensor([float(flag)])  # (1,)
        op = dist.ReduceOp.MAX
        self._call("the stop vote", lambda: dist.all_reduce(tensor, op=op, group=self.group))
        return bool(tensor.item() > 0)

    def meet_once(self) -> None:
        """Wait for every rank the first time this is called; return at once after that."""
        if self._met:
            return
        self._call("the meeting before training", lambda: dist.barrier(group=self.group))
        self._met = True

    def share_text(self, text: str) -> str:
        """Rank 0's ``text``, on every rank (the others' ``text`` is not used)."""
        if not self.active:
            return text
        data = torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)  # (N,)
        size = torch.tensor([data.numel()], dtype=torch.int64)  # (1,)
        self._call("sharing the run id", lambda: dist.broadcast(size, 0, group=self.group))
        buffer = data if self.rank == 0 else torch.empty(int(size.item()), dtype=torch.uint8)
        self._call("sharing the run id", lambda: dist.broadcast(buffer, 0, group=self.group))
        return bytes(int(value) for value in buffer.tolist()).decode("utf-8")


SOLO: Final = Collective(rank=0, world_size=1, active=False, group=None)
"""The collective of a process that trains alone."""

_current: list[Collective] = []


def current_collective() -> Collective:
    """The collective of the process group this process joined, or ``SOLO``."""
    return _current[-1] if _current else SOLO


def control_group(backend: Backend) -> dist.ProcessGroup | None:
    """The group for small CPU collectives: the default one under Gloo, a new Gloo one else."""
    if backend == "gloo":
        return None
    group: dist.ProcessGroup = dist.new_group(backend="gloo")
    return group


def init_group(
    world: WorldInfo, *, device: str, timeout_s: float, init_method: str = "env://"
) -> Collective:
    """Join the process group of ``world`` for training on ``device``; return its collective.

    On CUDA each rank first selects the GPU of its local rank. ``init_method`` says where
    the ranks meet (torchrun's ``env://`` by default, a ``file://`` or ``tcp://`` URL else).
    """
    backend = backend_for(device)
    torch.cuda.set_device(cuda_index(device, world["local_rank"]))
    dist.init_process_group(
        backend=backend,
        init_method=init_method,
        rank=world["rank"],
        world_size=world["world_size"],
        timeout=timedelta(seconds=timeout_s),
    )
    collective = Collective(
        rank=world["rank"],
        world_size=world["world_size"],
        active=True,
        group=control_group(backend),
    )
    _current.append(collective)
    return collective


def destroy_group() -> None:
    """Leave the process group ``init_group`` joined."""
    _current.clear()
    dist.destroy_process_group()


@contextmanager
def process_group(
    world: WorldInfo, *, device: str, timeout_s: float, init_method: str = "env://"
) -> Iterator[Collective]:
    """``init_group`` for the ``with`` block, then ``destroy_group``."""
    collective = init_group(world, device=device, timeout_s=timeout_s, init_method=init_method)
    try:
        yield collective
    finally:
        destroy_group()


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

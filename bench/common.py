"""What several bench scripts build the same way: the corpus ids, models, batches, a plain step.

Sizes come in two sets: the measured one (``small`` models, as the issue names them) and the
``--quick`` one (``tiny`` models, short windows), so a smoke run takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TypedDict

import torch
from torch import Tensor, nn
from torch.nn import functional

from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings, load_settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import (
    LMModelProto,
    ModelTrainConfig,
    PreparedLMModel,
    TrainingCallbacks,
)
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.training.dataset import TokenWindows, encode_corpus
from model_trainer.core.training.loop import BaseTrainer
from model_trainer.core.training.optimizer import make_optimizer
from model_trainer.core.training.schedule import build_scheduler

LR = 1e-3
WEIGHT_DECAY = 0.01
GRAD_CLIP = 1.0
WARMUP_STEPS = 10
SCHEDULE_STEPS = 100_000


class Shape(TypedDict):
    """Model size, context and batch of one measured training setup."""

    size: str
    seq_len: int
    batch_size: int
    steps: int


# GPT-2 small at context 64, batch 12 is the shape the issue measured; the LSTM is the demo's.
GPT2_SHAPE: Shape = {"size": "small", "seq_len": 64, "batch_size": 12, "steps": 30}
LSTM_SHAPE: Shape = {"size": "small", "seq_len": 128, "batch_size": 32, "steps": 15}
GPT2_QUICK: Shape = {"size": "tiny", "seq_len": 16, "batch_size": 2, "steps": 2}
LSTM_QUICK: Shape = {"size": "tiny", "seq_len": 16, "batch_size": 2, "steps": 2}


def gpt2_shape(quick: bool) -> Shape:
    """The GPT-2 training setup of a measured or a quick run."""
    return GPT2_QUICK if quick else GPT2_SHAPE


def lstm_shape(quick: bool) -> Shape:
    """The char-LSTM training setup of a measured or a quick run."""
    return LSTM_QUICK if quick else LSTM_SHAPE


def settings() -> Settings:
    """Default settings (the environment's ``MODEL_TRAINER_*`` ignored)."""
    return load_settings({})


@cache
def char_tokenizer() -> CharTokenizer:
    """The char tokenizer of the builtin corpus."""
    return CharTokenizer.from_text(builtin_text())


@cache
def corpus_ids() -> Tensor:
    """The builtin corpus as char ids ``(N,)``."""
    return encode_corpus(builtin_text(), char_tokenizer())


def config(family: str, shape: Shape, *, max_seq_len: int | None = None) -> ModelTrainConfig:
    """A CPU fp32 training config of ``family`` at ``shape`` (context ``max_seq_len`` if given)."""
    return train_config(
        model_family=family,
        model_size=shape["size"],
        max_seq_len=shape["seq_len"] if max_seq_len is None else max_seq_len,
        batch_size=shape["batch_size"],
        device="cpu",
        precision="fp32",
    )


def prepared(family: str, shape: Shape, *, max_seq_len: int | None = None) -> PreparedLMModel:
    """A fresh model of ``family`` (``gpt2`` or ``char_lstm``) around the char tokenizer."""
    cfg = config(family, shape, max_seq_len=max_seq_len)
    return default_registry.get(family).prepare(cfg, settings(), tokenizer=char_tokenizer())


def windows(shape: Shape) -> TokenWindows:
    """Training windows over the corpus at ``shape``'s context and batch."""
    return TokenWindows(
        corpus_ids(), seq_len=shape["seq_len"], batch_size=shape["batch_size"], seed=0
    )


def batches(shape: Shape) -> list[tuple[Tensor, Tensor]]:
    """``shape["steps"]`` batches ``(inputs, targets)``, each ``(B, T)``, cut once."""
    return list(windows(shape).batches(0, 0, shape["steps"]))


def plain_steps(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: Iterable[tuple[Tensor, Tensor]]
) -> int:
    """The training step anyone writes: forward, loss, backward, step, zero; returns tokens."""
    tokens = 0
    for inputs, targets in data:
        logits: Tensor = model(inputs)  # (B, T, V)
        loss = functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        torch.autograd.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += targets.numel()
    return tokens


def nothing(*_: object) -> None:
    """A callback that does nothing."""


def never() -> bool:
    """The cancel check of a run nobody cancels."""
    return False


IDLE_CALLBACKS: TrainingCallbacks = {
    "heartbeat": nothing,
    "cancelled": never,
    "progress": nothing,
    "epoch_end": nothing,
}


class Side:
    """One side's AdamW (built as ours builds it) and scheduler, over a shared model."""

    def __init__(self, model: LMModelProto) -> None:
        self.model = model
        self.optimizer: torch.optim.Optimizer = make_optimizer(
            model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY, device="cpu"
        )
        self.scheduler: torch.optim.lr_scheduler.LRScheduler = build_scheduler(
            self.optimizer, warmup_steps=WARMUP_STEPS, total_steps=SCHEDULE_STEPS
        )


def trainer_epoch(
    side: Side,
    train: TokenWindows,
    *,
    steps: int,
    callbacks: TrainingCallbacks,
    progress_interval_s: float,
) -> int:
    """One fp32 epoch of ``steps`` batches through ``BaseTrainer``; returns the tokens trained."""
    epochs = BaseTrainer().train_epochs(
        model=side.model,
        optimizer=side.optimizer,
        scheduler=side.scheduler,
        train=train,
        val=None,
        num_epochs=1,
        device="cpu",
        callbacks=callbacks,
        cfg=train_config(precision="fp32", grad_clip=GRAD_CLIP, max_steps_per_epoch=steps),
        options={"progress_interval_s": progress_interval_s},
    )
    for _ in epochs:
        pass
    return steps * train.batch_size * train.seq_len

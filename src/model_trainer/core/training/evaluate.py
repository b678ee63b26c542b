"""Validation loss for any model family: over every window, or over a fixed sample of them.

A mid-epoch evaluation reads a sample of at most ``eval_max_tokens`` validation tokens, drawn
once from the run's seed (``sample_windows``): the same windows every time, so two
evaluations differ only by what the model learnt between them. Evaluation keeps no
activations for a backward pass, so it reads ``EVAL_BATCH_FACTOR`` training batches at once:
whatever batch fits for training fits twice over without gradients.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    EvalOutcome,
    LMModelProto,
    ModelTrainConfig,
    PreparedLMModel,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.contracts.units import perplexity
from model_trainer.core.data.prepare import load_run_data
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.io import read_model_tokenizer
from model_trainer.core.training.dataset import TokenWindows
from model_trainer.core.training.device import ResolvedPrecision, autocast, resolve_precision
from model_trainer.core.training.distributed import SOLO, Collective
from model_trainer.core.training.loss import loss_unit_of

MODEL_DIR = "model"
EVAL_BATCH_FACTOR = 2

Loader = Callable[[str, Settings, TokenizerHandle], PreparedLMModel]


def sample_windows(windows: TokenWindows, max_tokens: int) -> Tensor:
    """Ascending indices of a fixed sample of ``windows``' windows, ``max_tokens`` targets at most.

    Every window when ``max_tokens`` is 0 or covers them all; at least one window otherwise.
    The sample is drawn from ``windows.seed`` alone: the same windows on every call.
    """
    total = windows.num_windows
    count = total if max_tokens == 0 else min(total, max(1, max_tokens // windows.seq_len))
    if count == total:
        return torch.arange(total)
    generator = torch.Generator().manual_seed(windows.seed)
    chosen, _ = torch.randperm(total, generator=generator)[:count].sort()
    return chosen


def evaluate_loss(
    model: LMModelProto,
    windows: TokenWindows,
    device: str,
    precision: ResolvedPrecision,
    chosen: Tensor | None = None,
    *,
    collective: Collective = SOLO,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[float, int]:
    """Mean loss (nats per token) and token count over the windows ``chosen`` (default: all).

    Leaves ``model`` in evaluation mode. Batches hold ``EVAL_BATCH_FACTOR`` times
    ``windows.batch_size`` windows; ``on_batch(done, total)`` hears of each, in windows.
    With an active ``collective`` each rank scores its share and both figures cover all the
    ranks.
    """
    indices = torch.arange(windows.num_windows) if chosen is None else chosen  # (W,)
    model.eval()
    sums: list[Tensor] = []
    count = 0
    with torch.inference_mode():
        size = windows.batch_size * EVAL_BATCH_FACTOR
        for first in range(0, indices.numel(), size):
            part = indices[first : first + size]  # (B,)
            rows = windows.rows(part)  # (B, T + 1)
            inputs = rows[:, :-1].contiguous().to(device, non_blocking=True)  # (B, T)
            targets = rows[:, 1:].contiguous().to(device, non_blocking=True)  # (B, T)
            with autocast(device, precision):
                logits = model(inputs)  # (B, T, V)
                loss = functional.cross_entropy(
                    logits.flatten(0, 1), targets.flatten(), reduction="sum"
                )
            sums.append(loss.float())
            count += targets.numel()
            if on_batch is not None:
                on_batch(first + part.numel(), indices.numel())
    total = 0.0
    for value in torch.stack(sums).tolist():
        total += value
    total, tokens = collective.sum([total, float(count)])
    return total / tokens, int(tokens)


def evaluate_run(
    run_dir: str, cfg: ModelTrainConfig, settings: Settings, load: Loader
) -> EvalOutcome:
    """Loss, perplexity and bits per character of ``<run_dir>/model`` on the validation split.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when the run has no validation split
            (``val_fraction`` 0), the model and corpus errors of ``load`` and ``load_corpus``,
            the errors of ``read_model_tokenizer``.
    """
    if cfg["val_fraction"] == 0.0 and cfg["val_path"] is None:
        raise ModelTrainerError(
            "INVALID_CONFIG", "val_fraction is 0.0: the run has no validation split to evaluate"
        )
    folder = os.path.join(run_dir, MODEL_DIR)
    prepared = load(folder, settings, read_model_tokenizer(folder, cfg["tokenizer_kind"]))
    run = load_run_data(cfg, settings, prepared["tokenizer"])
    ids = run["data"]["val_ids"]
    if ids is None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"val_fraction={cfg['val_fraction']} holds out no whole character of "
            f"{cfg['corpus_path']!r}: the run has no validation split to evaluate",
        )
    windows = TokenWindows(
        ids,
        seq_len=min(cfg["max_seq_len"], prepared["max_seq_len"]),
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        shuffle=False,
        name="the validation split",
    )
    device = prepared["device"]
    loss, tokens = evaluate_loss(
        prepared["model"], windows, device, resolve_precision(cfg["precision"], device)
    )
    chars = tokens * run["chars_per_token"]
    return {
        "loss": loss,
        "perplexity": perplexity(loss),
        "bits_per_char": loss * tokens / math.log(2) / chars,
        "num_tokens": tokens,
        "num_chars": round(chars),
        "loss_unit": loss_unit_of(prepared["tokenizer"]),
    }

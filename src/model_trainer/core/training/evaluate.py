"""Evaluate a run's saved model on its validation split, for any model family."""

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
from model_trainer.core.data.prepare import load_run_data
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.dataset import TokenWindows
from model_trainer.core.training.device import ResolvedPrecision, autocast, resolve_precision
from model_trainer.core.training.distributed import SOLO, Collective
from model_trainer.core.training.loss import loss_unit_of, perplexity

MODEL_DIR = "model"

Loader = Callable[[str, Settings], PreparedLMModel]


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


def evaluate_run(
    run_dir: str, cfg: ModelTrainConfig, settings: Settings, load: Loader
) -> EvalOutcome:
    """Loss, perplexity and bits per character of ``<run_dir>/model`` on the validation split.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when the run has no validation split
            (``val_fraction`` 0), the model and corpus errors of ``load`` and ``load_corpus``.
    """
    if cfg["val_fraction"] == 0.0 and cfg["val_path"] is None:
        raise ModelTrainerError(
            "INVALID_CONFIG", "val_fraction is 0.0: the run has no validation split to evaluate"
        )
    prepared = load(os.path.join(run_dir, MODEL_DIR), settings)
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

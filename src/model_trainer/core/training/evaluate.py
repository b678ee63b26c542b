"""Evaluate a run's saved model on its validation split, for any model family."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import EvalOutcome, ModelTrainConfig, PreparedLMModel
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.base_trainer import evaluate_loss, perplexity
from model_trainer.core.training.corpus import load_corpus, split_text
from model_trainer.core.training.dataset import TokenWindows, encode_corpus
from model_trainer.core.training.device import resolve_precision

MODEL_DIR = "model"

Loader = Callable[[str, Settings], PreparedLMModel]


def evaluate_run(
    run_dir: str, cfg: ModelTrainConfig, settings: Settings, load: Loader
) -> EvalOutcome:
    """Loss, perplexity and bits per character of ``<run_dir>/model`` on the validation split.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when the run has no validation split
            (``val_fraction`` 0), the model and corpus errors of ``load`` and ``load_corpus``.
    """
    if cfg["val_fraction"] == 0.0:
        raise ModelTrainerError(
            "INVALID_CONFIG", "val_fraction is 0.0: the run has no validation split to evaluate"
        )
    prepared = load(os.path.join(run_dir, MODEL_DIR), settings)
    _, val_text = split_text(load_corpus(cfg["corpus_path"], settings), cfg["val_fraction"])
    ids = encode_corpus(val_text, prepared["tok_for_dataset"])
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
    chars = tokens * len(val_text) / ids.numel()
    return {
        "loss": loss,
        "perplexity": perplexity(loss),
        "bits_per_char": loss * tokens / math.log(2) / chars,
        "num_tokens": tokens,
        "num_chars": round(chars),
        "loss_unit": "char" if prepared["tokenizer"].kind == "char" else "token",
    }

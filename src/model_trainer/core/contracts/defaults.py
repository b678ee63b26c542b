"""Configs with defaults that work on the embedded corpus, built from keywords or JSON."""

from __future__ import annotations

import json
from typing import Literal, TypeVar

from model_trainer.core.contracts.model import (
    DetailLevel,
    DeviceName,
    GenerateConfig,
    ModelTrainConfig,
    Precision,
    ScoreConfig,
)
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.contracts.validators import (
    validate_generate_config,
    validate_model_train_config,
    validate_score_config,
)
from model_trainer.core.errors import ModelTrainerError

BUILTIN_CORPUS = "builtin:python-docs"


def train_config(
    *,
    model_family: str = "char_lstm",
    model_size: str = "small",
    corpus_path: str = BUILTIN_CORPUS,
    tokenizer_kind: TokenizerKind = "char",
    vocab_size: int = 512,
    max_seq_len: int = 128,
    num_epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    weight_decay: float = 0.01,
    warmup_steps: int = 20,
    grad_clip: float = 1.0,
    grad_accum_steps: int = 1,
    val_fraction: float = 0.1,
    eval_every_steps: int = 0,
    checkpoint_every_steps: int = 0,
    max_steps_per_epoch: int = 0,
    seed: int = 0,
    device: DeviceName = "auto",
    precision: Precision = "auto",
    compile: bool = False,
) -> ModelTrainConfig:
    """Build and validate a training config; every field has a working default."""
    cfg: ModelTrainConfig = {
        "model_family": model_family,
        "model_size": model_size,
        "corpus_path": corpus_path,
        "tokenizer_kind": tokenizer_kind,
        "vocab_size": vocab_size,
        "max_seq_len": max_seq_len,
        "num_epochs": num_epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "warmup_steps": warmup_steps,
        "grad_clip": grad_clip,
        "grad_accum_steps": grad_accum_steps,
        "val_fraction": val_fraction,
        "eval_every_steps": eval_every_steps,
        "checkpoint_every_steps": checkpoint_every_steps,
        "max_steps_per_epoch": max_steps_per_epoch,
        "seed": seed,
        "device": device,
        "precision": precision,
        "compile": compile,
    }
    validate_model_train_config(cfg)
    return cfg


IntField = Literal[
    "vocab_size",
    "max_seq_len",
    "num_epochs",
    "batch_size",
    "warmup_steps",
    "grad_accum_steps",
    "eval_every_steps",
    "checkpoint_every_steps",
    "max_steps_per_epoch",
    "seed",
]
FloatField = Literal["learning_rate", "weight_decay", "grad_clip", "val_fraction"]
StrField = Literal["model_family", "model_size", "corpus_path"]

_INT_FIELDS: tuple[IntField, ...] = (
    "vocab_size",
    "max_seq_len",
    "num_epochs",
    "batch_size",
    "warmup_steps",
    "grad_accum_steps",
    "eval_every_steps",
    "checkpoint_every_steps",
    "max_steps_per_epoch",
    "seed",
)
_FLOAT_FIELDS: tuple[FloatField, ...] = (
    "learning_rate",
    "weight_decay",
    "grad_clip",
    "val_fraction",
)
_STR_FIELDS: tuple[StrField, ...] = ("model_family", "model_size", "corpus_path")


_DEVICE_NAMES: dict[str, DeviceName] = {"auto": "auto", "cpu": "cpu", "cuda": "cuda", "mps": "mps"}
_PRECISIONS: dict[str, Precision] = {"auto": "auto", "fp32": "fp32", "bf16": "bf16"}
_TOKENIZER_KINDS: dict[str, TokenizerKind] = {"char": "char", "bpe": "bpe"}
ChoiceT = TypeVar("ChoiceT", bound=str)


def _choice(data: dict[str, object], key: str, allowed: dict[str, ChoiceT]) -> ChoiceT:
    value = data[key]
    if not isinstance(value, str) or value not in allowed:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"{key} must be one of {', '.join(allowed)}, got {value!r}"
        )
    return allowed[value]


def _field_int(data: dict[str, object], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelTrainerError("INVALID_CONFIG", f"{key} must be an integer, got {value!r}")
    return value


def _field_float(data: dict[str, object], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelTrainerError("INVALID_CONFIG", f"{key} must be a number, got {value!r}")
    return float(value)


def _field_str(data: dict[str, object], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ModelTrainerError("INVALID_CONFIG", f"{key} must be a string, got {value!r}")
    return value


def train_config_from_mapping(
    data: dict[str, object], base: ModelTrainConfig | None = None
) -> ModelTrainConfig:
    """Overlay ``data`` (e.g. parsed JSON) on ``base`` (default: the defaults), strictly."""
    cfg: ModelTrainConfig = {**(train_config() if base is None else base)}
    known = set(cfg)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"unknown config field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
        )
    for int_key in _INT_FIELDS:
        if int_key in data:
            cfg[int_key] = _field_int(data, int_key)
    for float_key in _FLOAT_FIELDS:
        if float_key in data:
            cfg[float_key] = _field_float(data, float_key)
    for str_key in _STR_FIELDS:
        if str_key in data:
            cfg[str_key] = _field_str(data, str_key)
    if "tokenizer_kind" in data:
        cfg["tokenizer_kind"] = _choice(data, "tokenizer_kind", _TOKENIZER_KINDS)
    if "device" in data:
        cfg["device"] = _choice(data, "device", _DEVICE_NAMES)
    if "precision" in data:
        cfg["precision"] = _choice(data, "precision", _PRECISIONS)
    if "compile" in data:
        flag = data["compile"]
        if not isinstance(flag, bool):
            raise ModelTrainerError(
                "INVALID_CONFIG", f"compile must be true or false, got {flag!r}"
            )
        cfg["compile"] = flag
    validate_model_train_config(cfg)
    return cfg


def train_config_from_json(text: str, base: ModelTrainConfig | None = None) -> ModelTrainConfig:
    """Parse a JSON object of ``ModelTrainConfig`` fields over ``base``."""
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelTrainerError("INVALID_CONFIG", f"config is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelTrainerError(
            "INVALID_CONFIG", f"config must be a JSON object, got {type(data).__name__}"
        )
    return train_config_from_mapping({str(k): v for k, v in data.items()}, base)


def score_config(
    *,
    text: str | None = None,
    path: str | None = None,
    detail_level: DetailLevel = "summary",
    top_k: int | None = None,
    seed: int | None = None,
) -> ScoreConfig:
    """Build and validate a score config."""
    cfg: ScoreConfig = {
        "text": text,
        "path": path,
        "detail_level": detail_level,
        "top_k": top_k,
        "seed": seed,
    }
    validate_score_config(cfg)
    return cfg


def generate_config(
    *,
    prompt_text: str | None = None,
    prompt_path: str | None = None,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 50,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    seed: int | None = 0,
    stop_sequences: list[str] | None = None,
) -> GenerateConfig:
    """Build and validate a generate config."""
    cfg: GenerateConfig = {
        "prompt_text": prompt_text,
        "prompt_path": prompt_path,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "num_return_sequences": num_return_sequences,
        "seed": seed,
        "stop_sequences": [] if stop_sequences is None else list(stop_sequences),
    }
    validate_generate_config(cfg)
    return cfg

"""Config validators: a bad field raises ``ConfigError`` naming the field and the value.

``ConfigError`` is both a ``ModelTrainerError`` (with its ``code``) and a ``ValueError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Final, get_args

from model_trainer.core.contracts.model import (
    Attribution,
    BackendCapabilities,
    DetailLevel,
    GenerateConfig,
    ModelTrainConfig,
    ScoreConfig,
)
from model_trainer.core.errors import ConfigError

_DEVICES = ("auto", "cpu", "cuda", "mps")
_CUDA_INDEX = re.compile(r"cuda:(0|[1-9][0-9]*)")
_PRECISIONS = ("auto", "fp32", "bf16")
_TOKENIZERS = ("char", "bpe", "pretrained")
_DETAIL_LEVELS: tuple[str, ...] = get_args(DetailLevel)
_ATTRIBUTIONS: tuple[str, ...] = get_args(Attribution)
MAX_NEW_TOKENS = 100_000
"""The most tokens one generation samples: a long text, sampled and recorded token by token."""
MAX_SEED = 2**32 - 1
"""The largest seed: every random generator the kit seeds (torch, numpy) takes it."""
MAX_VOCAB = 1 << 20
"""The largest vocabulary (and ``top_k``): its embedding tables and a BPE trainer's merge
tables stay within a workstation's memory."""
MAX_COUNT = 1 << 40
"""The largest count of steps, epochs, windows or tokens a config may ask for."""
MAX_BEAM = 64
"""The most tokenizations a character-probability beam sums over (a forward pass each)."""
MAX_WINDOW = 1 << 20
"""The largest batch (in windows), window (in tokens) and accumulation a config may ask for."""
MAX_PROBE_CHARS: Final = 4000
"""The longest probe passage: it is scored at every epoch end."""


def _bad(field: str, value: object, rule: str) -> ConfigError:
    return ConfigError("INVALID_CONFIG", f"{field} must be {rule}, got {value!r}")


def _at_least(field: str, value: int, low: int, high: int = MAX_COUNT) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(field, value, f"an integer >= {low}")
    if value > high:
        raise _bad(field, value, f"an integer in [{low}, {high:_}]")


def check_vocab_size(value: int) -> None:
    """Refuse a ``vocab_size`` outside ``[1, MAX_VOCAB]``, before any tokenizer trains.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming the field, the value and the range.
    """
    _at_least("vocab_size", value, 1, MAX_VOCAB)


def _positive(field: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0.0:
        raise _bad(field, value, "a finite number > 0")


def _non_negative(field: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0.0:
        raise _bad(field, value, "a finite number >= 0")


def _one_of(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _bad(field, value, "one of " + ", ".join(allowed))


def check_device(field: str, value: object) -> None:
    """Refuse a ``value`` of ``field`` that names no device: one of ``_DEVICES`` or ``cuda:N``.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming ``field`` and ``value``.
    """
    if value in _DEVICES or (isinstance(value, str) and _CUDA_INDEX.fullmatch(value)):
        return
    raise _bad(field, value, "one of " + ", ".join(_DEVICES) + ", or cuda:N (N a device index)")


def validate_model_train_config(
    cfg: ModelTrainConfig, capabilities: BackendCapabilities | None = None
) -> None:
    """Check every field of a training config; with ``capabilities``, the size too.

    A family whose ``supported_sizes`` is empty checks the size itself (``convert_config``).
    """
    sizes = () if capabilities is None else capabilities["supported_sizes"]
    if sizes and cfg["model_size"] not in sizes:
        raise ConfigError(
            "INVALID_MODEL_SIZE",
            f"model_size {cfg['model_size']!r} is not a size of {cfg['model_family']}; "
            f"valid sizes: {', '.join(sizes)}",
        )
    if not cfg["corpus_path"]:
        raise _bad("corpus_path", cfg["corpus_path"], "a path or builtin:python-docs")
    _one_of("tokenizer_kind", cfg["tokenizer_kind"], _TOKENIZERS)
    check_vocab_size(cfg["vocab_size"])
    if cfg["tokenizer_kind"] == "bpe":
        _at_least("vocab_size", cfg["vocab_size"], 260, MAX_VOCAB)
    _at_least("max_seq_len", cfg["max_seq_len"], 1, MAX_WINDOW)
    _at_least("num_epochs", cfg["num_epochs"], 1)
    _at_least("batch_size", cfg["batch_size"], 1, MAX_WINDOW)
    _positive("learning_rate", cfg["learning_rate"])
    _non_negative("weight_decay", cfg["weight_decay"])
    _at_least("warmup_steps", cfg["warmup_steps"], 0)
    _non_negative("grad_clip", cfg["grad_clip"])
    _at_least("grad_accum_steps", cfg["grad_accum_steps"], 1, MAX_WINDOW)
    frac = cfg["val_fraction"]
    if not isinstance(frac, int | float) or not 0.0 <= frac < 1.0:
        raise _bad("val_fraction", frac, "in [0, 1)")
    _at_least("eval_every_steps", cfg["eval_every_steps"], 0)
    _at_least("checkpoint_every_steps", cfg["checkpoint_every_steps"], 0)
    _at_least("max_steps_per_epoch", cfg["max_steps_per_epoch"], 0)
    _at_least("seed", cfg["seed"], 0, MAX_SEED)
    _at_least("sample_every_steps", cfg["sample_every_steps"], 0)
    if len(cfg["probe_text"]) > MAX_PROBE_CHARS:
        raise ConfigError(
            "INVALID_CONFIG",
            f"probe_text must be at most {MAX_PROBE_CHARS} characters (it is scored at each "
            f"epoch end), got {len(cfg['probe_text'])}",
        )
    check_device("device", cfg["device"])
    _one_of("precision", cfg["precision"], _PRECISIONS)
    if not isinstance(cfg["compile"], bool) and cfg["compile"] != "auto":
        raise _bad("compile", cfg["compile"], "true, false or 'auto'")
    _at_least("eval_max_tokens", cfg["eval_max_tokens"], 0)
    _at_least("epoch_eval_max_tokens", cfg["epoch_eval_max_tokens"], 0)
    _at_least("early_stopping_patience", cfg["early_stopping_patience"], 0)
    _non_negative("early_stopping_min_delta", cfg["early_stopping_min_delta"])
    names = {
        "text_field": cfg["text_field"],
        "glob": cfg["glob"],
        "dataset_split": cfg["dataset_split"],
        "val_split": cfg["val_split"],
    }
    for name, value in names.items():
        if not value:
            raise _bad(name, value, "a non-empty string")
    if cfg["val_path"] == "":
        raise _bad("val_path", cfg["val_path"], "a path, or null for none")
    check_glob(cfg["glob"])
    _check_unread(cfg)
    _check_init_from(cfg)


def _check_init_from(cfg: ModelTrainConfig) -> None:
    """The options of a start from a model folder, and its tokenizer, need ``init_from``.

    What a folder fixes (family, size, tokenizer) is the registry's (``resolve_start``).
    """
    _at_least("lora_rank", cfg["lora_rank"], 0)
    if cfg["init_from"]:
        return
    if cfg["tokenizer_kind"] == "pretrained":
        raise _bad("tokenizer_kind", "pretrained", "used with init_from naming a pretrained model")
    fields: Mapping[str, object] = cfg
    for name, off in (("gradient_checkpointing", False), ("lora_rank", 0)):
        if fields[name] != off:
            raise _bad(name, fields[name], f"{off!r} without init_from (a pretrained start)")


def validate_score_config(cfg: ScoreConfig) -> None:
    """Check a score config: exactly one of text and path, a sane ``top_k``."""
    if cfg["text"] is None and cfg["path"] is None:
        raise ConfigError("INVALID_CONFIG", "ScoreConfig requires either text or path")
    if cfg["text"] is not None and cfg["path"] is not None:
        raise ConfigError(
            "INVALID_CONFIG", f"ScoreConfig takes text or path, not both (path={cfg['path']!r})"
        )
    if cfg["text"] is not None and cfg["text"] == "":
        raise _bad("text", cfg["text"], "a non-empty string")
    _one_of("detail_level", cfg["detail_level"], _DETAIL_LEVELS)
    if cfg["top_k"] is not None:
        _at_least("top_k", cfg["top_k"], 1, MAX_VOCAB)
    if cfg["seed"] is not None:
        _at_least("seed", cfg["seed"], 0, MAX_SEED)
    _one_of("attribution", cfg["attribution"], _ATTRIBUTIONS)
    _at_least("beam", cfg["beam"], 1, MAX_BEAM)
    try:
        re.compile(cfg["word_pattern"])
    except re.error as exc:
        raise _bad("word_pattern", cfg["word_pattern"], f"a regular expression ({exc})") from exc


def validate_generate_config(cfg: GenerateConfig) -> None:
    """Check a generate config: one prompt source and sampling settings in range."""
    if cfg["prompt_text"] is None and cfg["prompt_path"] is None:
        raise ConfigError(
            "INVALID_CONFIG", "GenerateConfig requires either prompt_text or prompt_path"
        )
    if cfg["prompt_text"] is not None and cfg["prompt_path"] is not None:
        raise ConfigError(
            "INVALID_CONFIG",
            f"GenerateConfig takes prompt_text or prompt_path, not both "
            f"(prompt_path={cfg['prompt_path']!r})",
        )
    _at_least("max_new_tokens", cfg["max_new_tokens"], 1, MAX_NEW_TOKENS)
    _positive("temperature", cfg["temperature"])
    _at_least("top_k", cfg["top_k"], 1, MAX_VOCAB)
    top_p = cfg["top_p"]
    if not isinstance(top_p, int | float) or not 0.0 < top_p <= 1.0:
        raise _bad("top_p", top_p, "in (0, 1]")
    _at_least("num_return_sequences", cfg["num_return_sequences"], 1, MAX_WINDOW)
    if cfg["seed"] is not None:
        _at_least("seed", cfg["seed"], 0, MAX_SEED)
    for stop in cfg["stop_sequences"]:
        if not isinstance(stop, str) or stop == "":
            raise _bad("stop_sequences", cfg["stop_sequences"], "a list of non-empty strings")


MAX_TRIALS: Final = 100_000
"""The most trials one sweep may run: each is a whole run with its own folder."""


def check_count(field: str, value: object, low: int, high: int = MAX_COUNT) -> None:
    """Refuse a ``value`` of ``field`` that is not an integer in ``[low, high]``.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming ``field``, ``value`` and the range.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(field, value, f"an integer in [{low:_}, {high:_}]")


def check_rate(field: str, value: object, *, below: float = math.inf) -> None:
    """Refuse a ``value`` of ``field`` that is not a finite number in ``(0, below)``.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming ``field``, ``value`` and the range.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.0 < value < below
    ):
        rule = "a finite number > 0" if math.isinf(below) else f"a number in (0, {below!r})"
        raise _bad(field, value, rule)


def check_glob(glob: str) -> None:
    """Refuse a ``glob`` that is no pattern inside a folder: absolute, leaving it, or malformed.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming the pattern and what to pass instead.
    """
    if not isinstance(glob, str) or not glob:
        raise _bad("glob", glob, "a non-empty string")
    pattern = PurePosixPath(glob)
    if pattern.is_absolute() or glob.startswith("~"):
        raise _bad(
            "glob",
            glob,
            "a pattern relative to the corpus folder (e.g. '**/*.txt'); put the folder in "
            "corpus_path and the pattern in glob",
        )
    parts = pattern.parts
    if not parts or any(part == ".." for part in parts):
        raise _bad("glob", glob, "a pattern of files inside the corpus folder (no '..')")
    if any("**" in part and part != "**" for part in parts):
        raise _bad("glob", glob, "a pattern whose '**' is a whole path component ('**/*.txt')")


def _no_split(cfg: ModelTrainConfig) -> bool:
    return cfg["val_fraction"] == 0.0 and cfg["val_path"] is None


def _check_unread(cfg: ModelTrainConfig) -> None:
    """Refuse a field set to a value the run would not read, saying which to keep."""
    split = "set val_fraction > 0 or val_path"
    unread = (
        (
            cfg["early_stopping_patience"] > 0 and _no_split(cfg),
            "early_stopping_patience",
            f"stops on the validation loss and there is no validation split: {split}, "
            "or leave early_stopping_patience at 0",
        ),
        (
            cfg["eval_every_steps"] > 0 and _no_split(cfg),
            "eval_every_steps",
            f"validates and there is no validation split: {split}, or leave eval_every_steps at 0",
        ),
        (
            cfg["early_stopping_min_delta"] > 0.0 and cfg["early_stopping_patience"] == 0,
            "early_stopping_min_delta",
            "is read by early stopping only: set early_stopping_patience > 0, or leave "
            "early_stopping_min_delta at 0",
        ),
        (
            not cfg["watch_learning"] and cfg["sample_every_steps"] > 0,
            "sample_every_steps",
            "draws samples with watch_learning only: set watch_learning=True, or leave "
            "sample_every_steps at 0",
        ),
        (
            not cfg["watch_learning"] and cfg["probe_text"] != "",
            "probe_text",
            "is scored with watch_learning only: set watch_learning=True, or leave "
            "probe_text empty",
        ),
    )
    fields: Mapping[str, object] = cfg
    for ignored, name, why in unread:
        if ignored:
            raise ConfigError(
                "INVALID_CONFIG", f"{name}={fields[name]!r} would be ignored: it {why}"
            )

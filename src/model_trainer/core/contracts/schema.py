"""The config schemas: every field of every config once, with its default and a one-line doc.

A field's type is its config TypedDict's own annotation (``core/contracts/model.py``); the
defaults, the JSON overlay, the CLI flags and the notebook keywords are all read from here.
The defaults work on the embedded corpus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypedDict, TypeVar
from typing import get_type_hints as type_hints

from model_trainer.core.contracts.model import GenerateConfig, ModelTrainConfig, ScoreConfig
from model_trainer.core.contracts.typed_json import parse_typed
from model_trainer.core.errors import ConfigError

ConfigT = TypeVar("ConfigT")
Default = str | int | float | bool | None | list[str]
BUILTIN_CORPUS: Final = "builtin:python-docs"


class Field(TypedDict):
    """One config field: its name, its default and what it means in one line."""

    name: str
    default: Default
    doc: str


def _field(name: str, default: Default, doc: str) -> Field:
    return {"name": name, "default": default, "doc": doc}


TRAIN_FIELDS: Final[tuple[Field, ...]] = (
    _field("model_family", "char_lstm", "model family: char_lstm, gpt2 or another registered"),
    _field("model_size", "small", "size of the family's model, e.g. tiny, small"),
    _field(
        "corpus_path",
        BUILTIN_CORPUS,
        f"a text file, a folder, a .jsonl/.csv/.parquet file, a saved dataset or {BUILTIN_CORPUS}",
    ),
    _field("tokenizer_kind", "char", "tokenizer: characters or byte-pair encoding"),
    _field("vocab_size", 512, "BPE vocabulary size (at least 260)"),
    _field("max_seq_len", 128, "tokens per training window"),
    _field("num_epochs", 3, "passes over the training split"),
    _field("batch_size", 32, "windows per batch (per process under torchrun)"),
    _field("learning_rate", 3e-3, "peak learning rate"),
    _field("weight_decay", 0.01, "AdamW weight decay"),
    _field("warmup_steps", 20, "optimizer steps of linear learning-rate warmup"),
    _field("grad_clip", 1.0, "gradient norm clip (0: no clipping)"),
    _field("grad_accum_steps", 1, "batches accumulated per optimizer step"),
    _field("val_fraction", 0.1, "share of the corpus held out for validation (0: none)"),
    _field("eval_every_steps", 0, "also validate every N steps (0: at epoch ends only)"),
    _field("checkpoint_every_steps", 0, "also checkpoint every N steps (0: at epoch ends only)"),
    _field("max_steps_per_epoch", 0, "cap on batches per epoch (0: no cap)"),
    _field("seed", 0, "random seed"),
    _field(
        "watch_learning",
        True,
        "draw a sample and score the probe passage at each epoch end while training",
    ),
    _field(
        "sample_every_steps",
        0,
        "also draw a sample every N steps, with watch_learning (0: at epoch ends only)",
    ),
    _field(
        "probe_text",
        "",
        "the passage scored per character at each epoch end, with watch_learning "
        "(empty: a short passage held out from the validation split)",
    ),
    _field("device", "auto", "device (auto: cuda, else mps, else cpu; cuda:N: the N-th GPU)"),
    _field("precision", "auto", "arithmetic precision (auto: chosen for the device)"),
    _field(
        "compile", False, "compile the model with torch.compile (auto: when it pays for itself)"
    ),
    _field(
        "eval_max_tokens",
        8192,
        "validation tokens read by a mid-epoch evaluation, a fixed sample (0: the whole split)",
    ),
    _field(
        "epoch_eval_max_tokens",
        1_000_000,
        "validation tokens read at an epoch's end, a fixed sample, so a large split is "
        "bounded (0: the whole split)",
    ),
    _field(
        "early_stopping_patience",
        0,
        "stop after N epochs without a better validation loss (0: never)",
    ),
    _field("early_stopping_min_delta", 0.0, "how much lower a validation loss must be to count"),
    _field("text_field", "text", "the text column of a .jsonl/.csv/.parquet file or dataset"),
    _field("glob", "**/*.txt", "the files of a corpus folder that are read (recursive)"),
    _field("val_path", None, "a separate validation corpus (default: hold out val_fraction)"),
    _field("dataset_split", "train", "the split of a saved DatasetDict to train on"),
    _field("val_split", "validation", "the split of a saved DatasetDict at val_path"),
    _field("init_from", "", "fine-tune this pretrained model (a folder or a cached HF model id)"),
    _field("gradient_checkpointing", False, "recompute activations to save memory (init_from)"),
    _field("lora_rank", 0, "train LoRA adapters of this rank, needs peft (init_from; 0: all)"),
)

WORD_PATTERN: Final = r"[\w']+|[^\w\s]"
"""One word: a run of letters, digits and apostrophes, or one punctuation mark."""

SCORE_FIELDS: Final[tuple[Field, ...]] = (
    _field("text", None, "the text to score"),
    _field("path", None, "a UTF-8 file to score"),
    _field(
        "detail_level",
        "summary",
        "summary, per_char for every character's score, or per_word for every word's",
    ),
    _field("top_k", None, "also give the K likeliest next characters at each character"),
    _field("seed", None, "random seed"),
    _field(
        "attribution",
        "char_probability",
        "char_probability (each character's own probability) or even_spread (a token's "
        "surprisal shared evenly by its characters)",
    ),
    _field("beam", 1, "covering tokenizations summed over for character probabilities"),
    _field(
        "word_pattern",
        WORD_PATTERN,
        "a regular expression for one word (per_word): letters, digits and apostrophes, "
        "each punctuation mark its own word",
    ),
)

GENERATE_FIELDS: Final[tuple[Field, ...]] = (
    _field("prompt_text", None, "the prompt text"),
    _field("prompt_path", None, "a UTF-8 file holding the prompt"),
    _field("max_new_tokens", 200, "tokens to sample (at most 100_000)"),
    _field("temperature", 0.8, "sampling temperature"),
    _field("top_k", 50, "sample from the K likeliest tokens"),
    _field("top_p", 1.0, "nucleus: sample from the likeliest tokens of this probability mass"),
    _field("num_return_sequences", 1, "continuations to sample"),
    _field("seed", 0, "random seed"),
    _field("stop_sequences", [], "texts that end a continuation"),
)


def field_types(shape: type[ConfigT]) -> dict[str, object]:
    """The annotation of each field of the config TypedDict ``shape``, by name."""
    return dict(type_hints(shape))


def defaults(fields: tuple[Field, ...]) -> dict[str, object]:
    """Each field's default by name (lists copied: a caller may change its own)."""
    return {
        field["name"]: list(field["default"])
        if isinstance(field["default"], list)
        else field["default"]
        for field in fields
    }


def overlay(
    shape: type[ConfigT],
    fields: tuple[Field, ...],
    values: Mapping[str, object],
    base: Mapping[str, object] | None = None,
    *,
    where: str = "config",
) -> ConfigT:
    """``values`` over ``base`` (default: the defaults), read strictly as ``shape``.

    Only the types are checked here; a config's rules are its validator's.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``where``, the field and the value for
            an unknown field or a value of the wrong type.
    """
    merged = {**(defaults(fields) if base is None else base), **values}
    return parse_typed(merged, shape, where=where, code="INVALID_CONFIG")


def train_overlay(
    values: Mapping[str, object], base: ModelTrainConfig | None = None, *, where: str = "config"
) -> ModelTrainConfig:
    """``values`` over ``base`` (default: the defaults) as a ``ModelTrainConfig``, unvalidated."""
    return overlay(ModelTrainConfig, TRAIN_FIELDS, values, base, where=where)


TRAIN_DEFAULTS: Final[ModelTrainConfig] = train_overlay({}, where="defaults")
"""The schema's defaults as a config: the one source of every keyword default."""

SPEC_TRAIN_FIELDS: Final = (
    "model_family",
    "model_size",
    "corpus_path",
    "max_seq_len",
    "num_epochs",
    "batch_size",
    "learning_rate",
)
"""The fields of the spec's ``ModelTrainConfig``: a whole config must hold them."""


def complete_train_config(cfg: Mapping[str, object], *, where: str = "config") -> ModelTrainConfig:
    """A whole config: ``cfg`` holding the spec's fields, with the schema's defaults beside.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming ``where`` and the missing field(s), an
            unknown field or a value of the wrong type.
    """
    missing = [name for name in SPEC_TRAIN_FIELDS if name not in cfg]
    if missing:
        raise ConfigError(
            "INVALID_CONFIG",
            f"{where}: missing required field(s) {', '.join(missing)}; a config holds at "
            f"least {', '.join(SPEC_TRAIN_FIELDS)} (the rest take the schema's defaults)",
        )
    return train_overlay(cfg, where=where)


def score_overlay(values: Mapping[str, object], *, where: str = "config") -> ScoreConfig:
    """``values`` over the defaults as a ``ScoreConfig``, unvalidated."""
    return overlay(ScoreConfig, SCORE_FIELDS, values, where=where)


def generate_overlay(values: Mapping[str, object], *, where: str = "config") -> GenerateConfig:
    """``values`` over the defaults as a ``GenerateConfig``, unvalidated."""
    return overlay(GenerateConfig, GENERATE_FIELDS, values, where=where)

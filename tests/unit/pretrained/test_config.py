"""The pretrained-start fields: declared once, checked once, filled in from ``init_from``.

What a start from a model folder fixes (family, size, tokenizer) is its family's
registration (``from_source``); ``resolve_start`` reads it from the registry.
"""

from __future__ import annotations

import pytest

from model_trainer.cli import build_parser
from model_trainer.cli_configs import train_config_of
from model_trainer.core.backends import fake
from model_trainer.core.backends.family import SourceStart
from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.backends.start import resolve_start
from model_trainer.core.contracts.defaults import train_config, train_config_from_mapping
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.validators import validate_model_train_config
from model_trainer.core.errors import ConfigError, ModelTrainerError

PRETRAINED: ModelTrainConfig = {
    **train_config(),
    "init_from": "gpt2",
    "model_family": "hf_causal_lm",
    "model_size": "pretrained",
    "tokenizer_kind": "pretrained",
}


def test_the_cli_derives_the_flags_and_init_from_fills_the_fixed_fields() -> None:
    args = build_parser().parse_args(
        ["train", "--init-from", "gpt2", "--gradient-checkpointing", "--lora-rank", "8"]
    )
    cfg = train_config_of(args)
    assert (cfg["init_from"], cfg["gradient_checkpointing"], cfg["lora_rank"]) == ("gpt2", True, 8)
    resolved = resolve_start(cfg, default_registry)
    assert resolved == {**PRETRAINED, "gradient_checkpointing": True, "lora_rank": 8}
    assert resolve_start(resolved, default_registry) == resolved
    validate_model_train_config(resolved)
    plain = train_config()
    assert resolve_start(plain, default_registry) is plain


def test_the_family_a_folder_starts_is_the_registrys() -> None:
    start: SourceStart = {"model_size": "whole", "tokenizer_kind": "bpe"}
    registry = ModelRegistry(
        {"fake": fake.REGISTRATION, "folder": {**fake.REGISTRATION, "from_source": start}}
    )
    resolved = resolve_start({**train_config(), "init_from": "here"}, registry)
    fixed = (resolved["model_family"], resolved["model_size"], resolved["tokenizer_kind"])
    assert fixed == ("folder", "whole", "bpe")
    with pytest.raises(ModelTrainerError) as error:
        resolve_start(PRETRAINED, ModelRegistry({"fake": fake.REGISTRATION}))
    assert error.value.code == "MODEL_NOT_FOUND"
    assert error.value.message == (
        "init_from: no registered family loads a model from a folder; registered: fake"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gradient_checkpointing": 1}, "gradient_checkpointing must be true or false, got 1"),
        ({"lora_rank": -1}, "lora_rank must be an integer >= 0, got -1"),
        (
            {
                "init_from": "",
                "gradient_checkpointing": True,
                "model_family": "gpt2",
                "tokenizer_kind": "bpe",
                "vocab_size": 300,
            },
            "gradient_checkpointing must be False without init_from (a pretrained start), got True",
        ),
    ],
)
def test_each_bad_pretrained_field_is_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        train_config_from_mapping(changes, PRETRAINED)
    assert error.value.code == "INVALID_CONFIG"
    assert error.value.message.removeprefix("config: ") == message


def test_a_field_a_folder_fixes_is_named_when_it_conflicts() -> None:
    with pytest.raises(ConfigError) as error:
        resolve_start({**PRETRAINED, "model_family": "gpt2"}, default_registry)
    assert error.value.message == (
        "model_family 'gpt2' conflicts with init_from='gpt2': a pretrained model brings its "
        "own size, vocabulary and tokenizer; leave model_family unset"
    )

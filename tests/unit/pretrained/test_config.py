"""The pretrained-start fields: declared once, checked once, filled in from ``init_from``."""

from __future__ import annotations

import pytest

from model_trainer.cli import build_parser, train_config_of
from model_trainer.core.contracts.defaults import train_config, train_config_from_mapping
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.validators import (
    resolve_init_from,
    validate_model_train_config,
)
from model_trainer.core.errors import ConfigError

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
    resolved = resolve_init_from(cfg)
    assert resolved == {**PRETRAINED, "gradient_checkpointing": True, "lora_rank": 8}
    assert resolve_init_from(resolved) == resolved
    validate_model_train_config(resolved)
    plain = train_config()
    assert resolve_init_from(plain) is plain


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gradient_checkpointing": 1}, "gradient_checkpointing must be true or false, got 1"),
        ({"lora_rank": -1}, "lora_rank must be an integer >= 0, got -1"),
        (
            {"model_family": "gpt2"},
            "model_family must be 'hf_causal_lm' with init_from (leave it unset), got 'gpt2'",
        ),
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

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Literal, get_args, get_origin

import pytest

from model_trainer.cli import build_parser
from model_trainer.cli_configs import generate_config_of, score_config_of, train_config_of
from model_trainer.cli_flags import add_field_flag
from model_trainer.core.contracts.defaults import (
    generate_config,
    score_config,
    train_config,
    train_config_from_mapping,
)
from model_trainer.core.contracts.model import GenerateConfig, ModelTrainConfig, ScoreConfig
from model_trainer.core.contracts.schema import (
    GENERATE_FIELDS,
    SCORE_FIELDS,
    TRAIN_FIELDS,
    Field,
    defaults,
    field_types,
    generate_overlay,
    score_overlay,
    train_overlay,
)
from model_trainer.core.contracts.typed_json import without_none
from model_trainer.core.contracts.validators import validate_model_train_config
from model_trainer.core.errors import ModelTrainerError

SCHEMAS: list[tuple[tuple[Field, ...], type[object]]] = [
    (TRAIN_FIELDS, ModelTrainConfig),
    (SCORE_FIELDS, ScoreConfig),
    (GENERATE_FIELDS, GenerateConfig),
]


@pytest.mark.parametrize(("fields", "shape"), SCHEMAS)
def test_the_schema_fields_are_the_typeddict_keys_in_order(
    fields: tuple[Field, ...], shape: type[object]
) -> None:
    assert [field["name"] for field in fields] == list(field_types(shape))
    for field in fields:
        assert field["doc"]
        assert "\n" not in field["doc"]


def test_the_defaults_are_the_schema_defaults_read_strictly() -> None:
    assert train_config() == defaults(TRAIN_FIELDS)
    assert train_overlay({}) == train_config()
    assert score_overlay({}) == defaults(SCORE_FIELDS)
    assert generate_overlay({}) == defaults(GENERATE_FIELDS)
    assert score_config(text="x") == {**defaults(SCORE_FIELDS), "text": "x"}
    assert generate_config(prompt_text="x") == {**defaults(GENERATE_FIELDS), "prompt_text": "x"}


def test_defaults_are_fresh_lists() -> None:
    first = defaults(GENERATE_FIELDS)
    stops = first["stop_sequences"]
    assert isinstance(stops, list)
    stops.append("x")
    assert defaults(GENERATE_FIELDS)["stop_sequences"] == []


def test_builders_name_the_field_and_value() -> None:
    with pytest.raises(ModelTrainerError) as unknown:
        train_config(epochs=3)
    assert unknown.value.code == "INVALID_CONFIG"
    assert unknown.value.message.startswith("train_config: has unknown field(s) epochs; known:")
    with pytest.raises(ModelTrainerError) as typed:
        score_config(text="x", top_k="2")
    assert typed.value.message == "score_config: top_k must be an integer or null, got '2'"
    with pytest.raises(ModelTrainerError) as listed:
        generate_config(prompt_text="x", stop_sequences=["a", 1])
    assert listed.value.message == "generate_config: stop_sequences[1] must be a string, got 1"


def test_an_overlay_is_typed_and_the_builder_validates() -> None:
    unchecked = train_overlay({"num_epochs": 0})
    assert unchecked["num_epochs"] == 0
    with pytest.raises(ModelTrainerError, match="num_epochs must be an integer >= 1, got 0"):
        train_config_from_mapping({"num_epochs": 0})
    base = train_config(seed=5)
    assert train_overlay({"num_epochs": 2}, base) == {**base, "num_epochs": 2}


def _other(field: Field, hint: object) -> tuple[list[str], object]:
    """Command-line words setting ``field`` to a value other than its default, and the value."""
    flag = "--" + field["name"].replace("_", "-")
    kind = without_none(hint)
    default = field["default"]
    if kind is bool:
        return ([flag] if not default else [f"--no-{flag[2:]}"]), not default
    if get_origin(kind) is Literal:
        choice = next(arg for arg in get_args(kind) if arg != default)
        return [flag, str(choice)], choice
    if get_origin(kind) is list:
        return [flag, "END", "\n\n"], ["END", "\n\n"]
    if kind is int:
        number = 7 if default is None else int(str(default)) + 7
        return [flag, str(number)], number
    if kind is float:
        half = float(str(default)) / 2 if default else 0.5
        return [flag, str(half)], half
    return [flag, "some-text"], "some-text"


TRAIN_TYPES = field_types(ModelTrainConfig)


@pytest.mark.parametrize("field", TRAIN_FIELDS, ids=[field["name"] for field in TRAIN_FIELDS])
def test_every_train_field_is_settable_from_the_command_line(field: Field) -> None:
    words, value = _other(field, TRAIN_TYPES[field["name"]])
    assert value != field["default"]
    cfg = train_config_of(build_parser().parse_args(["train", *words]))
    assert cfg == {**train_config(), field["name"]: value}


SCORE_TYPES = field_types(ScoreConfig)
GENERATE_TYPES = field_types(GenerateConfig)


@pytest.mark.parametrize("field", SCORE_FIELDS[1:], ids=[f["name"] for f in SCORE_FIELDS[1:]])
def test_every_score_field_is_settable_from_the_command_line(field: Field) -> None:
    words, value = _other(field, SCORE_TYPES[field["name"]])
    source = [] if field["name"] == "path" else ["--text", "t"]
    cfg = score_config_of(build_parser().parse_args(["score", "r1", *source, *words]))
    text = None if field["name"] == "path" else "t"
    assert cfg == {**defaults(SCORE_FIELDS), "text": text, field["name"]: value}


@pytest.mark.parametrize("field", GENERATE_FIELDS[1:], ids=[f["name"] for f in GENERATE_FIELDS[1:]])
def test_every_generate_field_is_settable_from_the_command_line(field: Field) -> None:
    words, value = _other(field, GENERATE_TYPES[field["name"]])
    prompt = [] if field["name"] == "prompt_path" else ["--prompt-text", "p"]
    cfg = generate_config_of(build_parser().parse_args(["generate", "r1", *prompt, *words]))
    text = None if field["name"] == "prompt_path" else "p"
    assert cfg == {**defaults(GENERATE_FIELDS), "prompt_text": text, field["name"]: value}


def test_the_device_flag_takes_a_gpu_by_index() -> None:
    cfg = train_config_of(build_parser().parse_args(["train", "--device", "cuda:1"]))
    assert cfg["device"] == "cuda:1"
    validate_model_train_config(cfg)


def test_short_flags_still_work() -> None:
    args = build_parser().parse_args(
        [
            *("train", "--family", "gpt2", "--size", "tiny", "--corpus", "c.txt"),
            *("--epochs", "2", "--lr", "0.5", "--tokenizer", "bpe"),
        ]
    )
    cfg = train_config_of(args)
    assert (cfg["model_family"], cfg["model_size"], cfg["corpus_path"]) == ("gpt2", "tiny", "c.txt")
    assert (cfg["num_epochs"], cfg["learning_rate"], cfg["tokenizer_kind"]) == (2, 0.5, "bpe")
    per_char = score_config_of(
        build_parser().parse_args(["score", "r", "--text", "t", "--per-char"])
    )
    assert per_char["detail_level"] == "per_char"
    per_word = score_config_of(
        build_parser().parse_args(["score", "r", "--text", "t", "--per-word", "--beam", "2"])
    )
    assert (per_word["detail_level"], per_word["beam"]) == ("per_word", 2)
    prompt = generate_config_of(build_parser().parse_args(["generate", "r", "--prompt", "The"]))
    assert prompt["prompt_text"] == "The"


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"num_epochs": 5, "seed": 3, "compile": True}), encoding="utf-8")
    args = build_parser().parse_args(
        ["train", "--config", str(path), "--seed", "4", "--no-compile"]
    )
    assert train_config_of(args) == {**train_config(), "num_epochs": 5, "seed": 4}


@pytest.mark.parametrize(
    ("flags", "choice"),
    [(["--compile"], True), (["--compile", "auto"], "auto"), (["--compile", "false"], False)],
)
def test_the_compile_switch_takes_auto(flags: list[str], choice: object) -> None:
    args = build_parser().parse_args(["train", "--no-compile", *flags])
    assert train_config_of(args)["compile"] == choice


def test_the_compile_switch_names_its_choices() -> None:
    with pytest.raises(ModelTrainerError) as raised:
        build_parser().parse_args(["train", "--compile", "maybe"])
    assert "--compile: choose from true, false, auto, got 'maybe'" in raised.value.message


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[1]", "run.json: must hold a JSON object, got list"),
        ("{", "run.json: not JSON"),
        ('{"num_epochs": "three"}', "run.json: num_epochs must be an integer, got 'three'"),
        ('{"epochs": 3}', "run.json: has unknown field(s) epochs"),
    ],
)
def test_a_bad_config_file_names_itself(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelTrainerError) as caught:
        train_config_of(build_parser().parse_args(["train", "--config", str(path)]))
    assert caught.value.code == "INVALID_CONFIG"
    assert caught.value.message.startswith(f"--config {path}")
    assert fragment in caught.value.message


def test_a_field_no_flag_can_take_is_an_internal_error() -> None:
    field: Field = {"name": "tags", "default": None, "doc": "tags"}
    with pytest.raises(ModelTrainerError) as caught:
        add_field_flag(argparse.ArgumentParser(), field, set[str])
    assert caught.value.code == "INTERNAL_ERROR"
    assert "tags: no command-line flag for set[str]" in caught.value.message


def test_a_plain_true_or_false_field_gets_a_switch() -> None:
    field: Field = {"name": "fast_mode", "default": False, "doc": "go fast"}
    parser = argparse.ArgumentParser()
    add_field_flag(parser, field, bool)
    assert vars(parser.parse_args(["--fast-mode"])) == {"fast_mode": True}
    assert vars(parser.parse_args(["--no-fast-mode"])) == {"fast_mode": False}
    assert vars(parser.parse_args([])) == {}

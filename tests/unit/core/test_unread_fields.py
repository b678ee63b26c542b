"""A config field the run would ignore, or a glob that names no files in the folder, is refused."""

import pytest

from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.validators import (
    check_count,
    check_glob,
    check_rate,
    validate_model_train_config,
)
from model_trainer.core.errors import ConfigError

UNREAD: list[tuple[dict[str, object], str]] = [
    (
        {"early_stopping_patience": 3, "val_fraction": 0.0},
        "early_stopping_patience=3 would be ignored: it stops on the validation loss and there "
        "is no validation split: set val_fraction > 0 or val_path, or leave "
        "early_stopping_patience at 0",
    ),
    (
        {"eval_every_steps": 5, "val_fraction": 0.0},
        "eval_every_steps=5 would be ignored: it validates and there is no validation split: "
        "set val_fraction > 0 or val_path, or leave eval_every_steps at 0",
    ),
    (
        {"early_stopping_min_delta": 0.01},
        "early_stopping_min_delta=0.01 would be ignored: it is read by early stopping only: "
        "set early_stopping_patience > 0, or leave early_stopping_min_delta at 0",
    ),
    (
        {"watch_learning": False, "sample_every_steps": 10},
        "sample_every_steps=10 would be ignored: it draws samples with watch_learning only: "
        "set watch_learning=True, or leave sample_every_steps at 0",
    ),
    (
        {"watch_learning": False, "probe_text": "a probe"},
        "probe_text='a probe' would be ignored: it is scored with watch_learning only: set "
        "watch_learning=True, or leave probe_text empty",
    ),
]


@pytest.mark.parametrize(("fields", "message"), UNREAD)
def test_a_field_the_run_would_ignore_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        train_config(**fields)
    assert info.value.message.endswith(message)


KEPT: list[dict[str, object]] = [
    {"early_stopping_patience": 3},
    {"early_stopping_patience": 3, "val_fraction": 0.0, "val_path": "v.txt"},
    {"early_stopping_patience": 2, "early_stopping_min_delta": 0.01},
    {"eval_every_steps": 5},
    {"watch_learning": True, "sample_every_steps": 10, "probe_text": "a probe"},
    {"watch_learning": False},
]


@pytest.mark.parametrize("fields", KEPT)
def test_fields_the_run_reads_pass(fields: dict[str, object]) -> None:
    validate_model_train_config(train_config(**fields))


GLOBS: list[tuple[str, str]] = [
    ("/data/books/*.txt", "a pattern relative to the corpus folder"),
    ("~/books/*.txt", "a pattern relative to the corpus folder"),
    ("../*.txt", "a pattern of files inside the corpus folder (no '..')"),
    ("books/../../*.txt", "a pattern of files inside the corpus folder (no '..')"),
    (".", "a pattern of files inside the corpus folder (no '..')"),
    ("**.txt", "a pattern whose '**' is a whole path component"),
]


@pytest.mark.parametrize(("glob", "rule"), GLOBS)
def test_a_glob_outside_the_folder_is_refused(glob: str, rule: str) -> None:
    with pytest.raises(ConfigError) as info:
        train_config(glob=glob)
    assert f"glob must be {rule}" in info.value.message
    assert info.value.message.endswith(f"got {glob!r}")


def test_counts_and_rates_name_the_range() -> None:
    check_count("num_steps", 5, 2)
    check_rate("smoothing", 0.5, below=1.0)
    for value in (1, 10**20, "5", 2.5, True):
        with pytest.raises(ConfigError) as info:
            check_count("num_steps", value, 2, 1000)
        assert info.value.message == f"num_steps must be an integer in [2, 1_000], got {value!r}"
    for rate in (0.0, -1.0, float("nan"), float("inf"), "fast", True):
        with pytest.raises(ConfigError) as info:
            check_rate("start_lr", rate)
        assert info.value.message == f"start_lr must be a finite number > 0, got {rate!r}"
    with pytest.raises(ConfigError) as info:
        check_rate("smoothing", 1.0, below=1.0)
    assert info.value.message == "smoothing must be a number in (0, 1.0), got 1.0"


def test_an_empty_glob_is_refused_where_it_is_read() -> None:
    with pytest.raises(ConfigError) as info:
        check_glob("")
    assert info.value.message == "glob must be a non-empty string, got ''"

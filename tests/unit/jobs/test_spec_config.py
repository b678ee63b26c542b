"""A config of the spec's shape: its fields alone train; a missing or bad one is a ValueError."""

from __future__ import annotations

from pathlib import Path

import pytest

import model_trainer
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.schema import SPEC_TRAIN_FIELDS, TRAIN_DEFAULTS
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.jobs.train_job import start_train
from model_trainer.core.training.manifest import read_manifest


def _spec(tmp_path: Path) -> dict[str, object]:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:1500], encoding="utf-8")
    return {
        "model_family": "char_lstm",
        "model_size": "tiny",
        "corpus_path": str(corpus),
        "max_seq_len": 16,
        "num_epochs": 1,
        "batch_size": 16,
        "learning_rate": 3e-3,
    }


def test_the_spec_fields_alone_train_with_the_schema_defaults(
    tmp_path: Path, settings: Settings
) -> None:
    spec = _spec(tmp_path)
    assert sorted(spec) == sorted(SPEC_TRAIN_FIELDS)
    handle = start_train(spec, settings, run_id="spec")
    assert handle.result()["epochs_completed"] == 1
    assert handle.state == "completed"
    assert read_manifest(handle.run_dir)["config"] == {**TRAIN_DEFAULTS, **spec}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"corpus_path": None, "batch_size": None},
            "INVALID_CONFIG: config: missing required field(s) corpus_path, batch_size; a config "
            "holds at least model_family, model_size, corpus_path, max_seq_len, num_epochs, "
            "batch_size, learning_rate (the rest take the schema's defaults)",
        ),
        (
            {"learning_rate": -1.0},
            "INVALID_CONFIG: learning_rate must be a finite number > 0, got -1.0",
        ),
        ({"num_epochs": "2"}, "INVALID_CONFIG: config: num_epochs must be an integer, got '2'"),
    ],
)
def test_a_missing_or_bad_field_is_a_value_error_naming_it(
    tmp_path: Path, settings: Settings, change: dict[str, object], message: str
) -> None:
    spec = _spec(tmp_path)
    cfg = {name: change.get(name, value) for name, value in spec.items()}
    shaped = {name: value for name, value in cfg.items() if value is not None}
    with pytest.raises(ValueError, match=r"^INVALID_CONFIG: ") as caught:
        start_train(shaped, settings)
    assert isinstance(caught.value, model_trainer.ConfigError)
    assert isinstance(caught.value, model_trainer.ModelTrainerError)
    assert str(caught.value) == message
    assert not Path(settings["runs_dir"]).exists()

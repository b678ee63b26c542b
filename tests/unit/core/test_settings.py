import os

import pytest

from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.errors import ModelTrainerError


def test_defaults_from_empty_environment() -> None:
    settings = load_settings({})
    assert settings == {
        "runs_dir": "runs",
        "max_corpus_chars": 200_000_000,
        "max_stream_chars": 0,
        "heartbeat_timeout_s": 60.0,
        "progress_interval_s": 0.5,
        "num_threads": 0,
        "cache_max_mb": 20_000,
    }


def test_reads_process_environment_by_default() -> None:
    assert load_settings()["runs_dir"] == os.environ.get("MODEL_TRAINER_RUNS_DIR", "runs")


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "MODEL_TRAINER_RUNS_DIR": "/data/runs",
            "MODEL_TRAINER_MAX_CORPUS_CHARS": "1000",
            "MODEL_TRAINER_MAX_STREAM_CHARS": "5000",
            "MODEL_TRAINER_HEARTBEAT_TIMEOUT_S": "2.5",
            "MODEL_TRAINER_PROGRESS_INTERVAL_S": "0.1",
            "MODEL_TRAINER_NUM_THREADS": "3",
            "MODEL_TRAINER_CACHE_MAX_MB": "0",
        }
    )
    assert settings == {
        "runs_dir": "/data/runs",
        "max_corpus_chars": 1000,
        "max_stream_chars": 5000,
        "heartbeat_timeout_s": 2.5,
        "progress_interval_s": 0.1,
        "num_threads": 3,
        "cache_max_mb": 0,
    }


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MODEL_TRAINER_MAX_CORPUS_CHARS", "lots", "must be an integer, got 'lots'"),
        ("MODEL_TRAINER_MAX_CORPUS_CHARS", "0", "must be >= 1, got 0"),
        ("MODEL_TRAINER_NUM_THREADS", "-1", "must be >= 0, got -1"),
        ("MODEL_TRAINER_MAX_STREAM_CHARS", "-1", "must be >= 0 (0: no limit), got -1"),
        ("MODEL_TRAINER_CACHE_MAX_MB", "-5", "must be >= 0 (0: no limit), got -5"),
        ("MODEL_TRAINER_HEARTBEAT_TIMEOUT_S", "soon", "must be a number, got 'soon'"),
    ],
)
def test_bad_values_name_variable_and_value(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ModelTrainerError) as info:
        load_settings({name: value})
    assert info.value.code == "INVALID_CONFIG"
    assert name in info.value.message
    assert fragment in info.value.message


def test_with_overrides_copies() -> None:
    base = load_settings({})
    moved = with_overrides(base, runs_dir="elsewhere")
    assert moved["runs_dir"] == "elsewhere"
    assert base["runs_dir"] == "runs"
    assert with_overrides(base) == base

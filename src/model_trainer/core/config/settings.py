"""Settings: read once from the environment, passed explicitly everywhere after."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypedDict

from model_trainer.core.errors import ModelTrainerError


class Settings(TypedDict):
    """Process-wide settings; every field has a ``MODEL_TRAINER_*`` variable.

    ``max_corpus_chars`` caps a text read whole into memory (a tokenizer job's corpus, a
    text to score or a prompt read from a file); ``max_stream_chars`` caps a training
    corpus, which the token cache streams, and is 0 (no limit) by default.
    """

    runs_dir: str
    max_corpus_chars: int
    max_stream_chars: int
    heartbeat_timeout_s: float
    progress_interval_s: float
    num_threads: int
    cache_max_mb: int


_DEFAULTS: Settings = {
    "runs_dir": "runs",
    "max_corpus_chars": 200_000_000,
    "max_stream_chars": 0,
    "heartbeat_timeout_s": 60.0,
    "progress_interval_s": 0.5,
    "num_threads": 0,
    "cache_max_mb": 20_000,
}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().lstrip("-").isdigit():
        raise ModelTrainerError("INVALID_CONFIG", f"{name} must be an integer, got {raw!r}")
    return int(raw)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.replace(".", "", 1).lstrip("-").isdigit():
        raise ModelTrainerError("INVALID_CONFIG", f"{name} must be a number, got {raw!r}")
    return float(text)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``os.environ``), falling back to defaults."""
    source = os.environ if env is None else env
    settings: Settings = {
        "runs_dir": source.get("MODEL_TRAINER_RUNS_DIR", _DEFAULTS["runs_dir"]),
        "max_corpus_chars": _int(
            source, "MODEL_TRAINER_MAX_CORPUS_CHARS", _DEFAULTS["max_corpus_chars"]
        ),
        "max_stream_chars": _int(
            source, "MODEL_TRAINER_MAX_STREAM_CHARS", _DEFAULTS["max_stream_chars"]
        ),
        "heartbeat_timeout_s": _float(
            source, "MODEL_TRAINER_HEARTBEAT_TIMEOUT_S", _DEFAULTS["heartbeat_timeout_s"]
        ),
        "progress_interval_s": _float(
            source, "MODEL_TRAINER_PROGRESS_INTERVAL_S", _DEFAULTS["progress_interval_s"]
        ),
        "num_threads": _int(source, "MODEL_TRAINER_NUM_THREADS", _DEFAULTS["num_threads"]),
        "cache_max_mb": _int(source, "MODEL_TRAINER_CACHE_MAX_MB", _DEFAULTS["cache_max_mb"]),
    }
    if settings["max_corpus_chars"] < 1:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"MODEL_TRAINER_MAX_CORPUS_CHARS must be >= 1, got {settings['max_corpus_chars']}",
        )
    if settings["max_stream_chars"] < 0:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"MODEL_TRAINER_MAX_STREAM_CHARS must be >= 0 (0: no limit), "
            f"got {settings['max_stream_chars']}",
        )
    if settings["cache_max_mb"] < 0:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"MODEL_TRAINER_CACHE_MAX_MB must be >= 0 (0: no limit), "
            f"got {settings['cache_max_mb']}",
        )
    if settings["num_threads"] < 0:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"MODEL_TRAINER_NUM_THREADS must be >= 0, got {settings['num_threads']}",
        )
    return settings


def with_overrides(settings: Settings, *, runs_dir: str | None = None) -> Settings:
    """Return a copy of ``settings`` with the given fields replaced."""
    out: Settings = {**settings}
    if runs_dir is not None:
        out["runs_dir"] = runs_dir
    return out

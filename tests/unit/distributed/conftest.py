"""A real process group of this one process (Gloo, meeting through a file), a tiny real run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config_from_mapping
from model_trainer.core.contracts.model import ModelTrainConfig, PreparedLMModel
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.tokenizers.io import train_tokenizer
from model_trainer.core.training.distributed import SOLO_WORLD, Collective, process_group


@pytest.fixture
def one_rank_group(tmp_path: Path) -> Iterator[Collective]:
    """This process as the only rank of a Gloo group, for the ``with`` of one test."""
    store = tmp_path / "group-store"
    with process_group(
        SOLO_WORLD, device="cpu", timeout_s=30.0, init_method=f"file://{store}"
    ) as collective:
        yield collective


@pytest.fixture(scope="session")
def corpus_text() -> str:
    """About 12,000 characters of real English text."""
    return builtin_text()[:12_000]


@pytest.fixture
def corpus_file(tmp_path: Path, corpus_text: str) -> str:
    """``corpus_text`` in a UTF-8 file."""
    path = tmp_path / "corpus.txt"
    path.write_text(corpus_text, encoding="utf-8")
    return str(path)


class MakeConfig(Protocol):
    """Builds a ``tiny_config`` with integer fields replaced (the ``make_config`` fixture)."""

    def __call__(self, **fields: int) -> ModelTrainConfig: ...


def tiny_config(corpus_path: str, **fields: int) -> ModelTrainConfig:
    """A tiny char-LSTM run on the CPU: 2 epochs of 6 batches of 8 windows of 16 chars."""
    values: dict[str, object] = {
        "model_family": "char_lstm",
        "model_size": "tiny",
        "corpus_path": corpus_path,
        "max_seq_len": 16,
        "batch_size": 8,
        "num_epochs": 2,
        "max_steps_per_epoch": 6,
        "warmup_steps": 2,
        "learning_rate": 1e-2,
        "seed": 7,
        "device": "cpu",
        "precision": "fp32",
        **fields,
    }
    return train_config_from_mapping(values)


@pytest.fixture
def make_config(corpus_file: str) -> MakeConfig:
    """``tiny_config`` on ``corpus_file``, with integer fields replaced by keywords."""

    def build(**fields: int) -> ModelTrainConfig:
        return tiny_config(corpus_file, **fields)

    return build


@pytest.fixture
def prepare(settings: Settings, corpus_text: str) -> Callable[[ModelTrainConfig], PreparedLMModel]:
    """A fresh char-LSTM of a config, with a char tokenizer of ``corpus_text``."""
    tokenizer = train_tokenizer("char", corpus_text, 512)

    def build(cfg: ModelTrainConfig) -> PreparedLMModel:
        return default_registry.get("char_lstm").prepare(cfg, settings, tokenizer=tokenizer)

    return build

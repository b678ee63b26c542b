"""Fixtures of the experiment tests: the runs folder of the temporary settings, a corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.data.corpus import builtin_text


@pytest.fixture
def runs(settings: Settings) -> str:
    """The temporary runs folder (``settings["runs_dir"]``)."""
    return settings["runs_dir"]


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    """A small corpus file: the builtin text's first 4,000 characters."""
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[:4000], encoding="utf-8")
    return str(path)

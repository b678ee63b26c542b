"""A training corpus for the pretrained models (``checkpoints`` is in the unit conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.data.corpus import builtin_text


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    """A small training corpus file."""
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[20000:26000], encoding="utf-8")
    return str(path)

"""Fixtures of the experiment tests: the runs folder of the temporary settings."""

from __future__ import annotations

import pytest

from model_trainer.core.config.settings import Settings


@pytest.fixture
def runs(settings: Settings) -> str:
    """The temporary runs folder (``settings["runs_dir"]``)."""
    return settings["runs_dir"]

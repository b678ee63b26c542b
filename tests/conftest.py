"""Shared fixtures: one torch thread per pytest worker, settings in a temporary runs folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_trainer.core.config.settings import Settings, load_settings, with_overrides

torch.set_num_threads(1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with the runs folder in a temporary directory."""
    return with_overrides(load_settings({}), runs_dir=str(tmp_path / "runs"))

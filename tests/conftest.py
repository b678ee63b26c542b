"""Shared fixtures: one torch thread per pytest worker, settings in a temporary runs folder."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from model_trainer.core.config.settings import Settings, load_settings, with_overrides

torch.set_num_threads(1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with the runs folder in a temporary directory."""
    return with_overrides(load_settings({}), runs_dir=str(tmp_path / "runs"))


Mount = Callable[[str, bool], Path]
"""Mounts a fresh tmpfs of a size (``"64k"``) at a new folder; read-only when True."""


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Mount]:
    """Small real file systems (a full disk, a read-only disk), unmounted at the end.

    Skips where this machine cannot mount one (not root, no ``mount``).
    """
    mounted: list[Path] = []

    def mount(size: str, read_only: bool) -> Path:
        folder = tmp_path / f"fs{len(mounted)}"
        folder.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=True)

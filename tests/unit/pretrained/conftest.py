"""Tiny pretrained checkpoints saved locally (random weights, tokenizers trained here).

One folder per architecture, built once per session: GPT-2 with byte-level BPE, GPT-NeoX
with byte-level BPE, Llama with a SentencePiece-style byte-fallback tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.backends.hf_causal_lm.tiny import ARCHS, Arch, save_tiny_checkpoint
from model_trainer.core.data.corpus import builtin_text


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[Arch, str]:
    """A saved tiny model of each architecture, by name."""
    root = tmp_path_factory.mktemp("pretrained")
    text = builtin_text()[:20000]
    return {arch: save_tiny_checkpoint(str(root / arch), arch, text) for arch in ARCHS}


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    """A small training corpus file."""
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[20000:26000], encoding="utf-8")
    return str(path)

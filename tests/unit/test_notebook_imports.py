"""The tutorials on families, tokenizers and pretrained models import only public names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PUBLIC = {"model_trainer", "model_trainer.family"}
IMPORT = re.compile(r"^\s*(?:from\s+(model_trainer[\w.]*)\s+import|import\s+(model_trainer[\w.]*))")


@pytest.mark.parametrize(
    "name", ["04_custom_backend", "05_tokenizers", "06_pretrained", "08_corpus_analysis"]
)
def test_a_tutorial_imports_only_public_names(name: str) -> None:
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code" for line in cell["source"]]
    found = [match.group(1) or match.group(2) for line in lines if (match := IMPORT.match(line))]
    assert "model_trainer" in found
    assert set(found) <= PUBLIC

"""The attack campaign, quick: every attack handled, none INTERNAL_ERROR or a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "attack.py"


@pytest.mark.slow
def test_the_quick_campaign_is_all_handled() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = done.stdout.splitlines()
    total = json.loads(lines[-1])
    families = [json.loads(line) for line in lines[:-1]]
    assert [family["family"] for family in families] == ["bounds", "ambiguous", "cache", "faults"]
    assert total["attacks"] == sum(family["handled"] for family in families) > 100
    assert (total["internal"], total["traceback"], total["accepted"]) == (0, 0, 0)
    assert done.returncode == 0

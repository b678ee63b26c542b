import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_rules", ROOT / "scripts" / "check_rules.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_rules"] = module
    spec.loader.exec_module(module)
    return module


RULES = _load()
A = "A" + "ny"
CAST = "ca" + "st"
IMPORT = "imp" + "ort"
NOQA = "no" + "qa"


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (f"from typing {IMPORT} {A}", "any-type"),
        (f"x: {A} = 1", "any-type"),
        (f"def f() -> {A}: ...", "any-type"),
        (f"y: list[{A}] = []", "any-type"),
        (f"from typing {IMPORT} {CAST}", "cast-call"),
        (f"z = {CAST}(int, y)", "cast-call"),
        ("x = 1  # type: " + "ignore", "type-ignore"),
        (f"x = 1  # {NOQA}: E501", "no-qa"),
        ("if x:  # pragma: " + "no cover", "pragma"),
        ("# " + "TO" + "DO later", "marker"),
    ],
)
def test_each_banned_construct_is_found(line: str, rule: str) -> None:
    assert RULES.scan_text(f"ok = 1\n{line}\n") == [(2, rule)]


def test_clean_text_passes() -> None:
    assert RULES.scan_text("Anything = 'many'\ndef forecast() -> int: ...\n") == []


def test_scan_paths_and_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "good.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "pkg" / "bad.py").write_text(f"y = 2  # {NOQA}\n", encoding="utf-8")
    (tmp_path / "pkg" / "mod.pyi").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "nb.ipynb").write_text('{"source": "import typing"}', encoding="utf-8")
    (tmp_path / "pkg" / "notes.txt").write_text("# " + "FIX" + "ME", encoding="utf-8")
    assert RULES.main([str(tmp_path / "pkg"), str(tmp_path / "missing")]) == 1
    out = capsys.readouterr().out
    assert "bad.py:1: no-qa" in out
    assert "mod.pyi: stub file" in out
    assert "code rules: 2 problem(s)" in out
    assert RULES.main([str(tmp_path / "missing")]) == 0


def test_repository_is_clean() -> None:
    roots = [str(ROOT / name) for name in ("src", "tests", "bench", "scripts", "notebooks")]
    assert RULES.scan_paths(roots) == []

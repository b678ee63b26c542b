"""The floor check: the tree passes it; an upward import or a circle planted in a copy fails."""

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_layers", ROOT / "scripts" / "check_layers.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


LAYERS = _load()


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package's source, to plant imports in."""
    shutil.copytree(ROOT / "src" / "model_trainer", tmp_path / "model_trainer")
    return tmp_path


def _plant(copy: Path, module: str, text: str) -> None:
    path = copy / "model_trainer" / module
    path.write_text(path.read_text("utf-8") + text, encoding="utf-8")


def test_the_tree_has_no_upward_import_and_no_circle(capsys: pytest.CaptureFixture[str]) -> None:
    assert LAYERS.main([str(ROOT / "src")]) == 0
    assert capsys.readouterr().out == "import floors: 0 problem(s)\n"


def test_an_upward_import_inside_a_function_fails(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _plant(
        copy,
        "core/data/evict.py",
        "\n\ndef _late() -> None:\n    from model_trainer.notebook import units\n",
    )
    assert LAYERS.main([str(copy)]) == 1
    assert capsys.readouterr().out == (
        "upward: model_trainer.core.data.evict (floor data) imports "
        "model_trainer.notebook.units (floor notebook)\n"
        "import floors: 1 problem(s)\n"
    )


def test_a_circle_within_a_floor_fails(copy: Path) -> None:
    _plant(copy, "core/tokenizers/files.py", "\nimport model_trainer.core.tokenizers.io\n")
    tokenizers = "model_trainer.core.tokenizers"
    assert LAYERS.problems(copy) == [
        f"circle: {tokenizers}.bpe -> {tokenizers}.files -> {tokenizers}.io -> {tokenizers}.bpe",
        f"circle: {tokenizers}.files -> {tokenizers}.io -> {tokenizers}.char -> {tokenizers}.files",
        f"circle: {tokenizers}.files -> {tokenizers}.io -> {tokenizers}.files",
    ]


def test_floors_read_from_the_dotted_name() -> None:
    assert LAYERS.floor("model_trainer.core.errors") == 0
    assert LAYERS.floor("model_trainer.notebook.panel") == LAYERS.LAYERS.index("notebook")
    assert LAYERS.floor("model_trainer.cli") == LAYERS.TOP
    assert LAYERS.floor("model_trainer") == LAYERS.TOP


def test_a_family_named_in_the_core_fails(copy: Path) -> None:
    _plant(copy, "core/data/prepare.py", '\nPRETRAINED_FAMILY = "hf_causal_lm"\n')
    _plant(copy, "core/backends/gpt2/limits.py", '\nOTHER = "char_lstm"\n')
    line = len((copy / "model_trainer" / "core/data/prepare.py").read_text("utf-8").splitlines())
    assert LAYERS.problems(copy) == [
        f"family: core/data/prepare.py:{line} names the family 'hf_causal_lm'"
    ]

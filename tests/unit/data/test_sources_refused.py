"""A source that could be read two ways, or only by guessing, is refused by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import datasets
import pytest

from model_trainer.core.data.sources import open_source
from model_trainer.core.errors import ModelTrainerError


def _error(path: Path, **given: str) -> ModelTrainerError:
    options = {"field": "corpus_path", "text_field": "text", "glob": "**/*.txt", "split": "train"}
    with pytest.raises(ModelTrainerError) as info:
        list(open_source(str(path), **{**options, **given}).documents())
    return info.value


def test_an_unterminated_quote_does_not_swallow_the_rest(tmp_path: Path) -> None:
    rows = ["text,n", "first,1", '"second,2', *(f"row {n},{n}" for n in range(3, 300))]
    file = tmp_path / "rows.csv"
    file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    error = _error(file)
    assert error.code == "INVALID_CONFIG"
    assert error.message.startswith(
        f"corpus_path: {str(file)!r} is not valid CSV in the record from line 3: "
        "unexpected end of data (a quote opened there and never closed"
    )


def test_a_quote_inside_an_unquoted_field_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "rows.csv"
    file.write_text('text\n"quoted" tail\nplain\n', encoding="utf-8")
    assert "in the record from line 2: ',' expected after '\"'" in _error(file).message


@pytest.mark.parametrize("glob", ["/abs/*.txt", "../*.txt"])
def test_a_glob_outside_the_folder(tmp_path: Path, glob: str) -> None:
    (tmp_path / "a.txt").write_text("text", encoding="utf-8")
    error = _error(tmp_path, glob=glob)
    assert error.code == "INVALID_CONFIG"
    assert error.message.startswith("glob must be a pattern")


def _saved(tmp_path: Path) -> Path:
    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": ["one", "two"]}).save_to_disk(str(folder))
    return folder


def _truncate_arrow(folder: Path) -> None:
    (arrow,) = folder.glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[:100])


def _state_a_list(folder: Path) -> None:
    (folder / "state.json").write_text(json.dumps([]), encoding="utf-8")


def _info_not_json(folder: Path) -> None:
    (folder / "dataset_info.json").write_text("{not json", encoding="utf-8")


def _arrow_missing(folder: Path) -> None:
    (arrow,) = folder.glob("*.arrow")
    arrow.unlink()


@pytest.mark.parametrize(
    ("damage", "cause"),
    [
        (_truncate_arrow, "ArrowInvalid"),
        (_state_a_list, "TypeError"),
        (_info_not_json, "JSONDecodeError"),
        (_arrow_missing, "FileNotFoundError"),
    ],
)
def test_a_damaged_datasets_folder_is_named(
    tmp_path: Path, damage: Callable[[Path], None], cause: str
) -> None:
    folder = _saved(tmp_path)
    damage(folder)
    error = _error(folder)
    assert error.code == "INVALID_CONFIG"
    assert error.message.startswith(
        f"corpus_path: the saved datasets folder {str(folder)!r} is damaged and cannot be "
        f"read ({cause}: "
    )
    assert error.message.endswith("save it again with save_to_disk")

"""Inputs the command line would read one way of two, or not at all: one coded line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.cli import main


def _one_error(capsys: pytest.CaptureFixture[str], argv: list[str], status: int) -> str:
    assert main(argv) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    return line


def test_runs_of_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing"
    line = _one_error(capsys, ["runs", "--runs-dir", str(missing)], 2)
    assert line.startswith(
        f"error[MODEL_NOT_FOUND]: runs folder {str(missing)!r} does not exist: no run was "
        "started there"
    )
    assert not missing.exists()


def test_an_absolute_glob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.txt").write_text("some text", encoding="utf-8")
    argv = ["train", "--corpus", str(tmp_path), "--glob", str(tmp_path / "*.txt")]
    line = _one_error(capsys, [*argv, "--runs-dir", str(tmp_path / "runs")], 2)
    assert line.startswith("error[INVALID_CONFIG]: ")
    assert "glob must be a pattern relative to the corpus folder" in line


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--per-char", "--per-word"],
            "argument --per-word: not allowed with argument --per-char",
        ),
        (
            ["--per-char", "--detail-level", "per_word"],
            "--per-char and --detail-level per_word name two detail levels; give one",
        ),
        (
            ["--detail-level", "summary", "--per-word"],
            "--per-word and --detail-level summary name two detail levels; give one",
        ),
    ],
)
def test_two_detail_levels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    argv = ["score", "some-run", "--text", "x", *flags, "--runs-dir", str(tmp_path)]
    line = _one_error(capsys, argv, 2)
    assert line.startswith("error[INVALID_CONFIG]: ")
    assert line.endswith(message)

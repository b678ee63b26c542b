"""Faults of the machine under the command line: one coded line each, never a traceback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from model_trainer.cli import CLOSED_PIPE, main
from model_trainer.core.data.corpus import builtin_text

Mount = Callable[[str, bool], Path]
CLI = [sys.executable, "-m", "model_trainer"]
FULL = "no space left on its device; free space there or point the runs folder elsewhere"


def _corpus(folder: Path) -> str:
    path = folder / "corpus.txt"
    path.write_text(builtin_text()[:5000], encoding="utf-8")
    return str(path)


def _train(corpus: str, runs: Path, run_id: str = "r1") -> list[str]:
    return [
        "train", "--family", "char_lstm", "--size", "tiny", "--corpus", corpus,
        "--epochs", "1", "--batch-size", "8", "--max-seq-len", "16", "--seed", "1",
        "--device", "cpu", "--precision", "fp32", "--tokenizer", "char",
        "--max-steps-per-epoch", "2", "--runs-dir", str(runs), "--run-id", run_id,
    ]  # fmt: skip


def _one_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error[ARTIFACT_UPLOAD_FAILED]: cannot write ")
    assert not any(line.startswith("Traceback") for line in err)
    return err[-1]


def test_a_full_disk(tmp_path: Path, tmpfs: Mount, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmpfs("64k", False) / "runs"
    line = _one_error(capsys, _train(_corpus(tmp_path), runs))
    assert f"cannot write {runs}" in line
    assert FULL in line


def test_a_read_only_disk(tmp_path: Path, tmpfs: Mount, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmpfs("64k", True) / "runs"
    line = _one_error(capsys, _train(_corpus(tmp_path), runs))
    assert f"cannot write {runs}" in line
    assert line.endswith(": read-only file system; write to a writable folder instead")


def test_a_runs_folder_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    runs.write_text("a file", encoding="utf-8")
    line = _one_error(capsys, _train(_corpus(tmp_path), runs))
    assert f"cannot write {runs / '.cache'}" in line
    assert "not a folder (a file is where a folder should be)" in line


def test_a_tokenizer_written_onto_a_folder_or_into_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = ["tokenizer", "train", "--corpus", _corpus(tmp_path), "--kind", "char", "--out"]
    assert _one_error(capsys, [*tool, str(tmp_path)]) == (
        f"error[ARTIFACT_UPLOAD_FAILED]: cannot write {tmp_path}: in the way (a folder is where "
        "a file should be); give a file path, not a folder"
    )
    missing = tmp_path / "missing" / "tok.json"
    assert _one_error(capsys, [*tool, str(missing)]) == (
        f"error[ARTIFACT_UPLOAD_FAILED]: cannot write {missing}: its folder does not exist; "
        "create the folder first or choose another"
    )


def _small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_file_size_limit(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    unmeasured = {key: value for key, value in os.environ.items() if "COVERAGE" not in key}
    done = subprocess.run(  # unmeasured: coverage could not write its own file under the limit
        [*CLI, *_train(_corpus(tmp_path), runs)],
        capture_output=True, text=True, check=False, preexec_fn=_small_files, env=unmeasured,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error[ARTIFACT_UPLOAD_FAILED]: cannot write {runs / 'r1' / 'checkpoint'}: too large "
        "for this process's file-size limit (ulimit -f); raise the limit (ulimit -f unlimited) "
        "or write a smaller file"
    )


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    corpus = _corpus(tmp_path)
    assert main(_train(corpus, runs)) == 0
    score = [*CLI, "score", "r1", "--runs-dir", str(runs), "--path", corpus, "--per-char"]
    with subprocess.Popen(
        [*score, "--top-k", "5", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as reader:
        assert reader.stdout is not None
        assert reader.stderr is not None
        assert reader.stdout.readline() == b"{\n"
        reader.stdout.close()
        err = reader.stderr.read()
    assert (reader.returncode, err) == (CLOSED_PIPE, b"")


def test_output_onto_a_full_device(tmp_path: Path) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [*CLI, "runs", "--runs-dir", str(tmp_path), "--json"],
            stdout=full, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        1,
        "error[ARTIFACT_UPLOAD_FAILED]: cannot write a file: no space left on its device; free "
        "space there or point the runs folder elsewhere (runs_dir, --runs-dir)\n",
    )

"""Faults of the machine, made on real files, become errors naming the path, cause and remedy."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import machine_fault, writing


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to its last byte."""
    done = subprocess.run(
        ["dd", "if=/dev/zero", f"of={folder / 'filler'}", "bs=4k"], capture_output=True, check=False
    )
    assert b"No space left" in done.stderr


def write(path: Path, folder: bool) -> None:
    with writing(path):
        if folder:
            path.mkdir()
        else:
            path.write_text("x" * 100_000, encoding="utf-8")


def refused(path: Path, folder: bool = False) -> ModelTrainerError:
    with pytest.raises(ModelTrainerError) as caught:
        write(path, folder)
    assert caught.value.code == "ARTIFACT_UPLOAD_FAILED"
    return caught.value


def test_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("x", encoding="utf-8")
    error = refused(tmp_path / "runs" / "job.json")
    assert error.message == (
        f"cannot write {tmp_path / 'runs' / 'job.json'}: not a folder (a file is where a folder "
        "should be); move that file away or choose another folder"
    )


def test_a_folder_in_the_way_of_a_file(tmp_path: Path) -> None:
    error = refused(tmp_path)
    assert error.message == (
        f"cannot write {tmp_path}: in the way (a folder is where a file should be); "
        "give a file path, not a folder"
    )


def test_a_file_in_the_way_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "tensorboard").write_text("x", encoding="utf-8")
    error = refused(tmp_path / "tensorboard", folder=True)
    assert "in the way (a file or folder already has that name)" in error.message


def test_a_missing_parent(tmp_path: Path) -> None:
    error = refused(tmp_path / "missing" / "out.json")
    assert error.message.endswith(
        "its folder does not exist; create the folder first or choose another"
    )


def test_no_space_left(tmpfs: Callable[[str, bool], Path]) -> None:
    disk = tmpfs("64k", False)
    error = refused(disk / "big.txt")
    assert error.message == (
        f"cannot write {disk / 'big.txt'}: no space left on its device; free space there or "
        "point the runs folder elsewhere (runs_dir, --runs-dir)"
    )


def test_a_read_only_disk(tmpfs: Callable[[str, bool], Path]) -> None:
    disk = tmpfs("64k", True)
    assert "read-only file system" in refused(disk / "x.txt").message


def test_an_immutable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"no immutable flag here: {made.stderr.decode().strip()}")
    try:
        error = refused(folder / "x.txt")
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert "read-only (immutable or not permitted); remove the immutable flag" in error.message


def test_a_file_size_limit(tmp_path: Path) -> None:
    """Under ``ulimit -f`` a write past the limit is refused with ``EFBIG``."""
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from model_trainer.core.errors import ModelTrainerError\n"
        "from model_trainer.core.faults import writing\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "path = Path(sys.argv[1])\n"
        "try:\n"
        "    with writing(path):\n"
        "        path.write_bytes(bytes(10_000))\n"
        "except ModelTrainerError as exc:\n"
        "    print(exc)\n"
    )
    path = tmp_path / "big.bin"
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    assert done.stdout == (
        f"ARTIFACT_UPLOAD_FAILED: cannot write {path}: too large for this process's file-size "
        "limit (ulimit -f); raise the limit (ulimit -f unlimited) or write a smaller file\n"
    )


def test_a_library_error_on_a_full_disk_is_read_as_no_space(
    tmpfs: Callable[[str, bool], Path],
) -> None:
    disk = tmpfs("64k", False)
    fill(disk)
    with (
        pytest.raises(ModelTrainerError, match="no space left on its device"),
        writing(disk / "optimizer.pt", RuntimeError),
    ):
        torch.save(torch.zeros(10_000), disk / "optimizer.pt")


def test_a_library_error_quoting_its_error_number(tmpfs: Callable[[str, bool], Path]) -> None:
    disk = tmpfs("64k", False)
    with (
        pytest.raises(ModelTrainerError, match="no space left on its device"),
        writing(disk / "model.safetensors", SafetensorError),
    ):
        save_file({"w": torch.zeros(100_000)}, str(disk / "model.safetensors"))


def test_a_library_error_under_a_file_size_limit(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        with (
            pytest.raises(ModelTrainerError, match="too large for this process's file-size limit"),
            writing(tmp_path / "optimizer.pt", RuntimeError),
        ):
            torch.save(torch.zeros(100_000), tmp_path / "optimizer.pt")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_library_error_without_a_known_cause(tmp_path: Path) -> None:
    error = machine_fault(RuntimeError("writer broke"), tmp_path / "x")
    assert error.message == (
        f"cannot write {tmp_path / 'x'}: RuntimeError: writer broke; "
        "check the path and the disk it is on"
    )


def test_an_error_without_a_path_or_number() -> None:
    assert machine_fault(OSError("odd")).message == (
        "cannot write a file: odd; check the path and the disk it is on"
    )
    assert os.strerror(5) in machine_fault(OSError(5, os.strerror(5)), "/x").message

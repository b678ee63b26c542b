"""The writer lock of a run, held by real processes: paused, killed, or this one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.run_lock import LOCK_FILE, hold_run_lock, holder, writer_state

CHILD = """
import sys, time
from pathlib import Path
from model_trainer.core.jobs.run_lock import hold_run_lock
lock = hold_run_lock(Path(sys.argv[1]), "held")
print("held", flush=True)
time.sleep(600)
"""


def test_a_paused_holder_keeps_the_lock_until_it_is_killed(tmp_path: Path) -> None:
    assert writer_state(tmp_path) == "unknown"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline() == b"held\n"
    child.send_signal(signal.SIGSTOP)
    assert writer_state(tmp_path) == "live"
    with pytest.raises(ModelTrainerError) as refused:
        hold_run_lock(tmp_path, "held")
    assert refused.value.code == "INVALID_CONFIG"
    assert refused.value.message == (
        f"run_id 'held' is being written by process {child.pid}, which holds "
        f"{str(tmp_path / LOCK_FILE)!r} (it may be paused); stop that process or wait for it "
        f"to end"
    )
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert writer_state(tmp_path) == "gone"
    with hold_run_lock(tmp_path, "held") as lock:
        assert (tmp_path / LOCK_FILE).read_text(encoding="utf-8") == f"{os.getpid()}\n"
        with pytest.raises(ModelTrainerError, match=f"written by process {os.getpid()}"):
            hold_run_lock(tmp_path, "held")
        assert writer_state(tmp_path) == "live"
    assert not lock.held
    lock.release()
    assert writer_state(tmp_path) == "gone"


def test_the_holder_is_named_when_it_can_be(tmp_path: Path) -> None:
    path = tmp_path / LOCK_FILE
    assert holder(path) == "another process"
    path.write_text("", encoding="utf-8")
    assert holder(path) == "another process"
    path.write_text("123\n", encoding="utf-8")
    assert holder(path) == "process 123"


def test_a_linked_lock_file_is_never_opened(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("", encoding="utf-8")
    (tmp_path / LOCK_FILE).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ModelTrainerError) as raised:
        hold_run_lock(tmp_path, "linked")
    assert raised.value.code == "ARTIFACT_UPLOAD_FAILED"
    assert raised.value.message == (
        f"cannot write {tmp_path / LOCK_FILE}: in the way (a symbolic link has that name); "
        "remove the link or choose another folder"
    )

"""A vocabulary that would not fit in memory is refused before its tokenizer trains."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from model_trainer.core.config.resources import available_memory
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.bpe import TRAIN_BYTES_PER_ID, require_memory_for


def test_the_need_is_named_against_what_there_is() -> None:
    require_memory_for(50_000, 50_000 * TRAIN_BYTES_PER_ID)
    require_memory_for(1 << 20, None)
    with pytest.raises(ModelTrainerError) as info:
        require_memory_for(1 << 20, 100 * 2**20)
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message == (
        "vocab_size=1_048_576 would need about 256 MiB to train its tokenizer, and this "
        "process has 100 MiB free; lower vocab_size (it takes up to 256 bytes an id) or free "
        "memory"
    )


def test_this_machine_has_some_memory_free() -> None:
    free = available_memory()
    assert free is not None
    assert free > 0


def _proc(root: Path, meminfo: str, limits: str, status: str) -> Path:
    (root / "self").mkdir(parents=True)
    for path, text in ((root / "meminfo", meminfo), (root / "self" / "limits", limits)):
        if text:
            path.write_text(text, encoding="ascii")
    (root / "self" / "status").write_text(status, encoding="ascii")
    return root


HOST = "MemTotal:  8000 kB\nMemAvailable:  4000 kB\n"
LIMITED = (
    "Max cpu time  unlimited  unlimited  seconds\nMax address space  5120000  unlimited  bytes\n"
)
UNLIMITED = "Max address space  unlimited  unlimited  bytes\n"
MAPPED = "Name: python\nVmSize:  3000 kB\n"


@pytest.mark.parametrize(
    ("meminfo", "limits", "status", "free"),
    [
        (HOST, UNLIMITED, MAPPED, 4000 * 1024),
        (HOST, LIMITED, MAPPED, 5120000 - 3000 * 1024),
        ("", LIMITED, MAPPED, 5120000 - 3000 * 1024),
        (HOST, LIMITED, "Name: python\n", 4000 * 1024),
        (HOST, "Max cpu time  unlimited  unlimited  seconds\n", MAPPED, 4000 * 1024),
        ("MemTotal:  8000 kB\n", "", MAPPED, None),
        (HOST, "Max address space  1024  unlimited  bytes\n", MAPPED, 0),
    ],
)
def test_free_memory_is_read_from_proc(
    tmp_path: Path, meminfo: str, limits: str, status: str, free: int | None
) -> None:
    assert available_memory(_proc(tmp_path / "proc", meminfo, limits, status)) == free


CHILD = textwrap.dedent(
    """
    import resource
    from pathlib import Path

    from model_trainer.core.config.resources import available_memory
    from model_trainer.core.tokenizers.bpe import BPETokenizer

    status = Path("/proc/self/status").read_text(encoding="ascii").splitlines()
    (mapped,) = [int(line.split()[1]) for line in status if line.startswith("VmSize:")]
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (mapped * 1024 + 64 * 2**20, hard))
    free = available_memory()
    assert free is not None and free <= 64 * 2**20, free
    BPETokenizer.train("some text to learn from " * 50, 300)
    print("small vocabulary trained", flush=True)
    BPETokenizer.train("some text to learn from " * 50, 1 << 20)
    """
)


def test_a_process_under_a_memory_limit_is_told_before_training() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout == "small vocabulary trained\n"
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "model_trainer.core.errors.ConfigError: INVALID_CONFIG: vocab_size=1_048_576 would "
        "need about 256 MiB to train its tokenizer, and this process has "
    )
    assert "Fatal" not in done.stderr

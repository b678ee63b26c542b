"""torchrun, tied to the process that launched it: ``python -m ...tether ARGS`` is torchrun.

A launch from a notebook must not outlive its kernel: a kernel that dies (killed, crashed,
restarted) would leave torchrun and every rank training on with nobody to follow them.
When ``PARENT_ENV`` names the launching process, this program first asks Linux to send it
SIGTERM when that process ends (``prctl(PR_SET_PDEATHSIG)``, kept across the rest of its
life), then runs torchrun in this very process. On SIGTERM torchrun stops its ranks, which
checkpoint at their next step and end. Run by hand on another node (no ``PARENT_ENV``) it
is plain torchrun.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence
from typing import Final

from torch.distributed import run

PARENT_ENV: Final = "MODEL_TRAINER_PARENT_PID"
"""The variable that names the process whose end ends this one."""
PR_SET_PDEATHSIG: Final = 1
"""Linux's ``prctl`` option: the signal this process gets when its parent ends."""
ORPHANED: Final = 75
"""The exit status when the launching process ended before the tie was made."""


def tie_to(parent: int) -> bool:
    """Get SIGTERM when ``parent`` (this process's parent) ends; False if it already has.

    Linux only (``prctl``); the tie is made first and checked after, so a parent that ends
    in between is seen.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return os.getppid() == parent


def main(argv: Sequence[str], env: dict[str, str]) -> int:
    """Tie this process to ``env[PARENT_ENV]`` when it is set, then run torchrun ``argv``."""
    parent = env.get(PARENT_ENV)
    if parent is not None and not tie_to(int(parent)):
        print(f"torchrun not started: its launching process {parent} has ended", file=sys.stderr)
        return ORPHANED
    run.main(list(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], dict(os.environ)))

"""Peak resident memory of ``model-trainer demo``, against a budget of 2 GiB.

The demo runs as a child process (``--quick`` in a quick run, the full demo otherwise) in a
temporary runs folder; its peak is the children's ``ru_maxrss`` read after it ends. The
figure's baseline is the budget, and its ratio is the budget over the peak: at least 1 is
within budget. There is no side to alternate with, so it is one run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile

import torch

import harness

BUDGET_MIB = 2048.0
KIB_PER_MIB = 1024.0


def demo_peak_mib(*, quick: bool) -> float:
    """Run the demo in a child process; return the children's peak resident memory in MiB.

    The child trains with as many torch threads as this process was given.
    """
    with tempfile.TemporaryDirectory() as runs_dir:
        command = [sys.executable, "-m", "model_trainer", "demo", "--runs-dir", runs_dir]
        env = {**os.environ, "MODEL_TRAINER_NUM_THREADS": str(torch.get_num_threads())}
        subprocess.run(
            [*command, "--quick"] if quick else command, check=True, stdout=sys.stderr, env=env
        )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / KIB_PER_MIB


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    peak = demo_peak_mib(quick=opts["quick"])
    name = "demo_quick_peak_rss" if opts["quick"] else "demo_peak_rss"
    harness.emit(
        harness.figure(name, [peak], [BUDGET_MIB], unit="MiB", target=1.0, higher_is_better=False)
    )


if __name__ == "__main__":
    main()

"""When ``torch.compile`` pays: a choice, or ``"auto"`` decided from measured costs."""

from __future__ import annotations

from typing import Final, TypedDict

from model_trainer.core.contracts.model import CompileChoice


class CompileCosts(TypedDict):
    """What compiling costs and saves on a device kind, measured once."""

    compile_s: float
    step_s: float
    saved_fraction: float


# GPT-2 small (4 layers, 128 wide) at context 64, batch 12, one thread of a 2-core EPYC,
# torch 2.13: the first compiled step took 33.5 s, an eager step 58.0 ms, a compiled one
# 56.7 ms (2.2% saved). The char-LSTM's step is cuDNN's or ATen's LSTM kernel either way.
CPU_COMPILE: Final[CompileCosts] = {"compile_s": 33.5, "step_s": 0.058, "saved_fraction": 0.022}


def compile_pays(
    choice: CompileChoice, device: str, planned_steps: int, costs: CompileCosts = CPU_COMPILE
) -> bool:
    """Whether to ``torch.compile`` the model: ``choice``, or for ``"auto"`` the rule below.

    On CUDA, compile: a GPU step is launch-bound without fused kernels and a compile takes
    about a minute, repaid within the first few hundred steps. Elsewhere, compile only when
    the ``planned_steps`` still to run save more than the compile takes:
    ``planned_steps * step_s * saved_fraction > compile_s``. With the CPU figures measured
    (``CPU_COMPILE``: 33.5 s to compile, 58 ms a step, 2.2% of it saved) that is from
    26,254 planned steps on, so a tutorial or demo run on a CPU (hundreds to a few thousand steps)
    stays eager and a long one compiles.
    """
    if choice != "auto":
        return choice
    if device.startswith("cuda"):
        return True
    return planned_steps * costs["step_s"] * costs["saved_fraction"] > costs["compile_s"]

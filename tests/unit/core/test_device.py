import pytest
import torch

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.device import (
    autocast,
    available_device,
    resolve_device,
    resolve_precision,
)


def test_auto_picks_fastest_present() -> None:
    assert resolve_device("auto", cuda=True, mps=True) == "cuda"
    assert resolve_device("auto", cuda=False, mps=True) == "mps"
    assert resolve_device("auto", cuda=False, mps=False) == "cpu"
    assert resolve_device("cpu", cuda=True, mps=False) == "cpu"
    assert resolve_device("cuda", cuda=True, mps=False) == "cuda"
    assert resolve_device("mps", cuda=False, mps=True) == "mps"


@pytest.mark.parametrize("requested", ["cuda", "mps"])
def test_missing_accelerator_is_an_error(requested: str) -> None:
    with pytest.raises(ModelTrainerError) as info:
        resolve_device("cuda" if requested == "cuda" else "mps", cuda=False, mps=False)
    assert info.value.code == "CUDA_NOT_AVAILABLE"
    assert repr(requested) in info.value.message


def test_this_machine_resolves() -> None:
    assert available_device("cpu") == "cpu"
    assert available_device("auto") in ("cpu", "cuda", "mps")


def test_precision_auto_follows_device() -> None:
    assert resolve_precision("auto", "cuda") == "bf16"
    assert resolve_precision("auto", "cuda:1") == "bf16"
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("fp32", "cuda") == "fp32"


def test_autocast_runs_bf16_on_cpu() -> None:
    a = torch.ones(4, 4)
    with autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32

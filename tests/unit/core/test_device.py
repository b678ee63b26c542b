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
    assert resolve_device("auto", cuda=True, mps=True, count=1) == "cuda"
    assert resolve_device("auto", cuda=False, mps=True, count=0) == "mps"
    assert resolve_device("auto", cuda=False, mps=False, count=0) == "cpu"
    assert resolve_device("cpu", cuda=True, mps=False, count=1) == "cpu"
    assert resolve_device("cuda", cuda=True, mps=False, count=1) == "cuda"
    assert resolve_device("mps", cuda=False, mps=True, count=0) == "mps"


def test_a_cuda_device_by_index_is_one_the_machine_has() -> None:
    assert resolve_device("cuda:0", cuda=True, mps=False, count=1) == "cuda:0"
    assert resolve_device("cuda:3", cuda=True, mps=False, count=4) == "cuda:3"
    for requested, count, present in (
        ("cuda:3", 2, "2 CUDA devices (cuda:0, cuda:1)"),
        ("cuda:1", 1, "1 CUDA device (cuda:0)"),
    ):
        with pytest.raises(ModelTrainerError) as info:
            resolve_device(requested, cuda=True, mps=False, count=count)
        assert info.value.code == "CUDA_NOT_AVAILABLE"
        assert info.value.message == (
            f"device {requested!r} was asked for, but this machine has {present}"
        )
    with pytest.raises(ModelTrainerError, match="'cuda:0' was asked for, but no CUDA") as none:
        resolve_device("cuda:0", cuda=False, mps=False, count=0)
    assert none.value.code == "CUDA_NOT_AVAILABLE"


@pytest.mark.parametrize("requested", ["gpu", "cuda:x", "cuda:", "cuda:-1", "cpu:0", "CUDA"])
def test_a_name_that_is_no_device_is_a_config_error(requested: str) -> None:
    with pytest.raises(ModelTrainerError) as info:
        resolve_device(requested, cuda=True, mps=True, count=2)
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message.startswith("device must be one of auto, cpu, cuda, mps, or cuda:N")
    assert info.value.message.endswith(f"got {requested!r}")


@pytest.mark.parametrize("requested", ["cuda", "mps"])
def test_missing_accelerator_is_an_error(requested: str) -> None:
    with pytest.raises(ModelTrainerError) as info:
        resolve_device("cuda" if requested == "cuda" else "mps", cuda=False, mps=False, count=0)
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

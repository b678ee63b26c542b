"""A rank's place from torchrun's variables, the group's backend and timeout: pure functions."""

from __future__ import annotations

import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.distributed import (
    DEFAULT_TIMEOUT_S,
    SOLO_WORLD,
    backend_for,
    check_rank_device,
    cuda_index,
    group_failed,
    timeout_from_env,
    under_torchrun,
    world_from_env,
)

TORCHRUN = {"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"}


def test_no_variables_is_one_process() -> None:
    assert world_from_env({}) == SOLO_WORLD
    assert SOLO_WORLD == {"rank": 0, "local_rank": 0, "world_size": 1, "local_world_size": 1}
    assert not under_torchrun({})


def test_torchrun_variables() -> None:
    assert world_from_env(TORCHRUN) == {
        "rank": 3,
        "local_rank": 1,
        "world_size": 4,
        "local_world_size": 2,
    }
    assert under_torchrun(TORCHRUN)
    assert not under_torchrun({**TORCHRUN, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"})


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("RANK", "-1", "'-1'"),
        ("WORLD_SIZE", "0", "'0'"),
        ("LOCAL_RANK", "one", "'one'"),
        ("LOCAL_WORLD_SIZE", "", "''"),
    ],
)
def test_a_variable_that_is_not_a_count(name: str, value: str, shown: str) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        world_from_env({**TORCHRUN, name: value})
    assert caught.value.code == "INVALID_CONFIG"
    assert name in caught.value.message
    assert shown in caught.value.message


@pytest.mark.parametrize(("name", "value"), [("RANK", "4"), ("LOCAL_RANK", "2")])
def test_a_rank_outside_its_world(name: str, value: str) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        world_from_env({**TORCHRUN, name: value})
    assert caught.value.code == "INVALID_CONFIG"
    assert f"{name}={value}" in caught.value.message


def test_backend_is_nccl_for_cuda_and_gloo_otherwise() -> None:
    assert backend_for("cuda") == "nccl"
    assert backend_for("cuda:1") == "nccl"
    assert backend_for("cpu") == "gloo"
    assert backend_for("mps") == "gloo"


def test_a_cuda_rank_takes_the_gpu_of_its_local_rank() -> None:
    assert cuda_index("cuda", 3) == 3
    assert cuda_index("cpu", 3) == -1
    assert cuda_index("mps", 0) == -1


def test_a_rank_refuses_a_gpu_by_index() -> None:
    for device in ("auto", "cuda", "cpu"):
        check_rank_device(device)
    with pytest.raises(ModelTrainerError) as caught:
        check_rank_device("cuda:1")
    assert caught.value.code == "INVALID_CONFIG"
    assert caught.value.message.startswith("device must be auto, cuda or cpu under torchrun")
    assert caught.value.message.endswith("got 'cuda:1'")


def test_timeout() -> None:
    assert timeout_from_env({}) == DEFAULT_TIMEOUT_S
    assert timeout_from_env({"MODEL_TRAINER_DIST_TIMEOUT_S": " 2.5 "}) == 2.5
    for bad in ("0", "-3", "soon", "1e3"):
        with pytest.raises(ModelTrainerError) as caught:
            timeout_from_env({"MODEL_TRAINER_DIST_TIMEOUT_S": bad})
        assert caught.value.code == "INVALID_CONFIG"
        assert repr(bad) in caught.value.message


def test_group_failure_names_the_rank_the_step_and_the_way_on() -> None:
    error = group_failed(1, 2, "the stop vote", RuntimeError("Connection closed by peer"))
    assert error.code == "INTERNAL_ERROR"
    assert "rank 1 of 2" in error.message
    assert "the stop vote" in error.message
    assert "Connection closed by peer" in error.message
    assert "resume" in error.message

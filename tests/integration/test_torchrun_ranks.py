"""This test process as rank 1 of two, rank 0 a subprocess: the other ranks' side, measured."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import LMModelProto
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.distributed.launcher import settings_env
from model_trainer.core.distributed.rank import TrainJob, distributed_train, wait_quietly
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.io import read_model_tokenizer
from model_trainer.core.training.distributed import current_collective

ENTRY = Path(__file__).with_name("torchrun_entry.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Pair:
    """Rank 0 as a subprocess running the test entry; this process joins as rank 1."""

    def __init__(self, tmp_path: Path, settings: Settings) -> None:
        self.settings = settings
        self.hashes = tmp_path / "hashes"
        self.hashes.mkdir()
        self.method = f"tcp://127.0.0.1:{free_port()}"
        self.env = {
            "RANK": "1",
            "LOCAL_RANK": "0",
            "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "1",
            "MODEL_TRAINER_DIST_TIMEOUT_S": "60",
        }
        corpus = tmp_path / "corpus.txt"
        corpus.write_text(builtin_text()[:12_000], encoding="utf-8")
        self.config = tmp_path / "run.json"
        cfg = train_config(
            model_family="char_lstm",
            model_size="tiny",
            corpus_path=str(corpus),
            max_seq_len=16,
            batch_size=8,
            num_epochs=2,
            max_steps_per_epoch=5,
            warmup_steps=1,
            learning_rate=1e-2,
            grad_accum_steps=2,
            eval_every_steps=2,
            checkpoint_every_steps=2,
            device="cpu",
            precision="fp32",
        )
        self.cfg = cfg
        self.config.write_text(json.dumps(cfg), encoding="utf-8")

    def rank_zero(self, run_id: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(ENTRY), str(self.config), str(self.hashes), run_id],
            env={
                **os.environ,
                **settings_env(self.settings),
                **self.env,
                "RANK": "0",
                "OMP_NUM_THREADS": "1",
                "TEST_INIT_METHOD": self.method,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def pair(tmp_path: Path, settings: Settings) -> Pair:
    return Pair(tmp_path, settings)


@pytest.mark.slow
def test_rank_one_trains_the_same_model_and_writes_nothing(pair: Pair) -> None:
    other = pair.rank_zero("shared")
    models: list[LMModelProto] = []

    def follow(handle: TrainJob) -> int:
        status = wait_quietly(handle)
        prepared = handle.prepared
        assert prepared is not None
        models.append(prepared["model"])
        return status

    status = distributed_train(
        pair.cfg,
        pair.settings,
        report=wait_quietly,
        follow=follow,
        env=pair.env,
        init_method=pair.method,
    )
    _, errors = other.communicate(timeout=60)
    assert other.returncode == 0, errors[-3000:]
    assert status == 0
    assert current_collective().active is False
    runs = Path(pair.settings["runs_dir"])
    assert [path.name for path in runs.iterdir() if path.name[0] != "."] == ["shared"]
    model_dir = str(runs / "shared" / "model")
    saved = default_registry.get("char_lstm").load(
        model_dir, pair.settings, tokenizer=read_model_tokenizer(model_dir, "char")
    )
    mine, theirs = models[0].state_dict(), saved["model"].state_dict()
    assert sorted(mine) == sorted(theirs)
    assert all(torch.equal(mine[name], theirs[name]) for name in mine)
    assert (pair.hashes / "rank-0").is_file()


@pytest.mark.slow
def test_rank_one_fails_clearly_when_rank_zero_dies(pair: Pair) -> None:
    (Path(pair.settings["runs_dir"]) / "taken").mkdir(parents=True)
    other = pair.rank_zero("taken")
    started = time.monotonic()
    with pytest.raises(ModelTrainerError) as caught:
        distributed_train(
            pair.cfg,
            pair.settings,
            report=wait_quietly,
            run_id="ignored: rank 0 names the run",
            env=pair.env,
            init_method=pair.method,
        )
    _, errors = other.communicate(timeout=60)
    assert "already exists" in errors
    assert other.returncode != 0
    assert time.monotonic() - started < 30
    assert caught.value.code == "INTERNAL_ERROR"
    assert "rank 1 of 2: the process group failed during" in caught.value.message

"""``torchrun --nproc_per_node=2`` on the CPU with Gloo: one model, one run folder, same losses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.distributed.launcher import settings_env
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.trainer_metrics_events import is_epoch
from model_trainer.core.jobs.train_job import start_train
from model_trainer.core.training.manifest import read_manifest

ENTRY = Path(__file__).with_name("torchrun_entry.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]


def tiny(corpus: Path, *, batch_size: int) -> ModelTrainConfig:
    return train_config(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=str(corpus),
        max_seq_len=32,
        batch_size=batch_size,
        num_epochs=3,
        max_steps_per_epoch=10,
        warmup_steps=2,
        learning_rate=1e-2,
        seed=11,
        device="cpu",
        precision="fp32",
    )


def env_of(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        **settings_env(settings),
        "OMP_NUM_THREADS": "1",
        "MODEL_TRAINER_NUM_THREADS": "1",
        "MODEL_TRAINER_DIST_TIMEOUT_S": "60",
    }


def epoch_losses(folder: Path) -> list[float]:
    events = read_events(folder / "events.jsonl")
    pairs = [(event["train_loss"], event["val_loss"]) for event in events if is_epoch(event)]
    return [loss for pair in pairs for loss in pair if loss is not None]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[:16_000], encoding="utf-8")
    return path


def single_process_losses(corpus: Path, settings: Settings) -> list[float]:
    """The losses of one process training on the same global batch (2 x 8 windows)."""
    alone: Settings = {**settings, "runs_dir": str(Path(settings["runs_dir"]).parent / "alone")}
    start_train(tiny(corpus, batch_size=16), alone, run_id="alone").result()
    return epoch_losses(Path(alone["runs_dir"]) / "alone")


@pytest.mark.slow
def test_two_ranks_train_one_model_like_one_process(
    tmp_path: Path, corpus: Path, settings: Settings
) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps(tiny(corpus, batch_size=8)), encoding="utf-8")
    hashes = tmp_path / "hashes"
    hashes.mkdir()
    done = subprocess.run(
        [*TORCHRUN, str(ENTRY), str(config), str(hashes), "pair"],
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (hashes / "rank-0").read_text(), (hashes / "rank-1").read_text()
    assert first == second
    runs = Path(settings["runs_dir"])
    assert [path.name for path in runs.iterdir() if path.name[0] != "."] == ["pair"]
    manifest = read_manifest(str(runs / "pair"))
    assert (manifest["world_size"], manifest["global_batch_size"]) == (2, 16)
    losses = epoch_losses(runs / "pair")
    assert len(losses) == 6
    assert losses == pytest.approx(single_process_losses(corpus, settings), rel=1e-5)


@pytest.mark.slow
def test_the_command_line_under_torchrun(tmp_path: Path, corpus: Path, settings: Settings) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps({**tiny(corpus, batch_size=8), "num_epochs": 1}), "utf-8")
    runs = Path(settings["runs_dir"])
    done = subprocess.run(
        [*TORCHRUN, "-m", "model_trainer", "train", "--config", str(config), "--json"],
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout)
    assert (outcome["epochs_completed"], outcome["steps"], outcome["cancelled"]) == (1, 10, False)
    (folder,) = [path for path in runs.iterdir() if path.name[0] != "."]
    assert outcome["out_dir"] == str(folder)
    assert read_manifest(str(folder))["world_size"] == 2

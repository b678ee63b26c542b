"""Checkpoints: exact round trips, tied weights, crash safety and strict loading."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR

from model_trainer.core.contracts.model import EpochMetrics
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import (
    LATEST,
    Checkpoint,
    TrainPosition,
    best_loss,
    capture_checkpoint,
    capture_rng,
    latest_name,
    load_checkpoint,
    load_latest_checkpoint,
    point_latest,
    publish_checkpoint_dir,
    restore_checkpoint,
    restore_rng,
    save_checkpoint,
    start_position,
    write_checkpoint_dir,
)
from model_trainer.core.training.optimizer import make_optimizer
from model_trainer.core.training.schedule import build_scheduler


class MakeModel(Protocol):
    """Builds a seeded tiny model (the ``make_model`` fixture)."""

    def __call__(
        self, *, seed: int = 0, dropout: float = 0.0, tie: bool = False, cell: str = "lstm"
    ) -> nn.Module: ...


def metrics(epoch: int, loss: float, val_loss: float | None) -> EpochMetrics:
    return {
        "epoch": epoch,
        "global_step": epoch * 10,
        "steps": 10,
        "elapsed_s": 1.5,
        "loss": loss,
        "perplexity": 2.0,
        "val_loss": val_loss,
        "val_perplexity": None if val_loss is None else 3.0,
        "tokens_per_second": 100.0,
        "learning_rate": 0.001,
    }


class Run:
    """A model, its optimizer and scheduler, trained a few steps."""

    def __init__(self, model: nn.Module, steps: int) -> None:
        self.model = model
        self.optimizer = make_optimizer(model.parameters(), lr=0.01, weight_decay=0.1, device="cpu")
        self.scheduler = build_scheduler(self.optimizer, warmup_steps=2, total_steps=20)
        for _ in range(steps):
            ids = torch.randint(0, 10, (2, 6))
            model(ids).square().mean().backward()
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()

    def checkpoint(self, step: int, history: list[EpochMetrics] | None = None) -> Checkpoint:
        position: TrainPosition = {**start_position(), "global_step": step, "loss_sum": 1.25}
        return capture_checkpoint(
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            position=position,
            history=[] if history is None else history,
            seed=5,
        )


def weights(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_round_trip_restores_everything(tmp_path: Path, make_model: MakeModel) -> None:
    run = Run(make_model(seed=1), steps=3)
    history = [metrics(1, 2.5, 2.0), metrics(2, 2.0, None)]
    folder = save_checkpoint(str(tmp_path), run.checkpoint(3, history))
    assert os.path.basename(folder) == "ckpt-3"
    assert sorted(os.listdir(folder)) == [
        "model.safetensors",
        "optimizer.pt",
        "rng.safetensors",
        "state.json",
    ]
    expected_rng = torch.rand(4)
    fresh = Run(make_model(seed=2), steps=0)
    loaded = load_latest_checkpoint(str(tmp_path))
    assert loaded is not None
    torch.manual_seed(123)
    restore_checkpoint(
        loaded, model=fresh.model, optimizer=fresh.optimizer, scheduler=fresh.scheduler
    )
    assert torch.equal(torch.rand(4), expected_rng)
    for name, value in run.model.state_dict().items():
        assert torch.equal(fresh.model.state_dict()[name], value)
    assert fresh.scheduler.last_epoch == 3
    assert fresh.scheduler.get_last_lr() == run.scheduler.get_last_lr()
    assert fresh.optimizer.param_groups[0]["lr"] == run.optimizer.param_groups[0]["lr"]
    for param, twin in zip(fresh.model.parameters(), run.model.parameters(), strict=True):
        state, other = fresh.optimizer.state[param], run.optimizer.state[twin]
        assert torch.equal(state["exp_avg"], other["exp_avg"])
        assert torch.equal(state["exp_avg_sq"], other["exp_avg_sq"])
    meta = loaded["meta"]
    assert meta["position"]["global_step"] == 3
    assert meta["position"]["loss_sum"] == 1.25
    assert meta["history"] == history
    assert meta["best_loss"] == 2.0
    assert meta["seed"] == 5


def test_tied_weights_save_and_load_tied(tmp_path: Path, make_model: MakeModel) -> None:
    run = Run(make_model(seed=1, tie=True), steps=2)
    save_checkpoint(str(tmp_path), run.checkpoint(2))
    fresh = Run(make_model(seed=3, tie=True), steps=0)
    loaded = load_latest_checkpoint(str(tmp_path))
    assert loaded is not None
    restore_checkpoint(
        loaded, model=fresh.model, optimizer=fresh.optimizer, scheduler=fresh.scheduler
    )
    embed = fresh.model.get_parameter("embed.weight")
    assert embed is fresh.model.get_parameter("head.weight")
    assert torch.equal(embed, run.model.get_parameter("embed.weight"))


class Strided(nn.Module):
    """A model with a transposed (non-contiguous) buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.register_buffer("table", torch.arange(12.0).reshape(3, 4).t())

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.scale * input_ids.float().unsqueeze(-1)  # (B, T, 4)


def test_non_contiguous_tensors_are_saved(tmp_path: Path) -> None:
    run = Run(Strided(), steps=1)
    save_checkpoint(str(tmp_path), run.checkpoint(1))
    loaded = load_latest_checkpoint(str(tmp_path))
    assert loaded is not None
    assert torch.equal(loaded["weights"]["table"], torch.arange(12.0).reshape(3, 4).t())


def test_weights_of_another_model_are_incompatible(tmp_path: Path, make_model: MakeModel) -> None:
    save_checkpoint(str(tmp_path), Run(make_model(), steps=0).checkpoint(1))
    loaded = load_latest_checkpoint(str(tmp_path))
    assert loaded is not None
    other = Run(Strided(), steps=0)
    with pytest.raises(ModelTrainerError) as caught:
        restore_checkpoint(
            loaded, model=other.model, optimizer=other.optimizer, scheduler=other.scheduler
        )
    assert caught.value.code == "MODEL_INCOMPATIBLE"


def test_rng_of_absent_cuda_devices_is_skipped() -> None:
    states = {**capture_rng(), "cuda:0": torch.zeros(16, dtype=torch.uint8)}
    expected = torch.rand(3)
    torch.manual_seed(99)
    restore_rng(states)
    assert torch.equal(torch.rand(3), expected)


def test_best_loss_prefers_validation() -> None:
    assert best_loss([]) is None
    assert best_loss([metrics(1, 1.0, None), metrics(2, 3.0, 2.0)]) == 1.0
    assert best_loss([metrics(1, 1.0, 4.0), metrics(2, 3.0, 2.0)]) == 2.0


def test_nothing_to_load(tmp_path: Path) -> None:
    assert load_latest_checkpoint(str(tmp_path / "absent")) is None
    assert load_latest_checkpoint(str(tmp_path)) is None


def test_save_keeps_only_the_newest(tmp_path: Path, make_model: MakeModel) -> None:
    run = Run(make_model(), steps=0)
    save_checkpoint(str(tmp_path), run.checkpoint(4))
    save_checkpoint(str(tmp_path), run.checkpoint(8))
    assert sorted(os.listdir(tmp_path)) == [LATEST, "ckpt-8"]
    assert latest_name(str(tmp_path)) == "ckpt-8"


def test_kill_while_writing_keeps_the_previous(tmp_path: Path, make_model: MakeModel) -> None:
    root = str(tmp_path)
    run = Run(make_model(), steps=1)
    save_checkpoint(root, run.checkpoint(1, [metrics(1, 2.0, None)]))
    write_checkpoint_dir(root, run.checkpoint(2, [metrics(1, 2.0, None), metrics(2, 1.0, None)]))
    assert sorted(os.listdir(root)) == [LATEST, "ckpt-1", "ckpt-2.tmp"]
    loaded = load_latest_checkpoint(root)
    assert loaded is not None
    assert loaded["meta"]["position"]["global_step"] == 1
    assert len(loaded["meta"]["history"]) == 1
    save_checkpoint(root, run.checkpoint(2))
    assert sorted(os.listdir(root)) == [LATEST, "ckpt-2"]


def test_half_written_tmp_folder_is_replaced(tmp_path: Path, make_model: MakeModel) -> None:
    root = str(tmp_path)
    run = Run(make_model(), steps=0)
    save_checkpoint(root, run.checkpoint(1))
    (tmp_path / "ckpt-2.tmp").mkdir()
    (tmp_path / "ckpt-2.tmp" / "model.safetensors").write_bytes(b"partial")
    save_checkpoint(root, run.checkpoint(2))
    loaded = load_latest_checkpoint(root)
    assert loaded is not None
    assert loaded["meta"]["position"]["global_step"] == 2


def test_kill_after_rename_uses_the_renamed_folder(tmp_path: Path, make_model: MakeModel) -> None:
    root = str(tmp_path)
    run = Run(make_model(), steps=1)
    save_checkpoint(root, run.checkpoint(1))
    publish_checkpoint_dir(write_checkpoint_dir(root, run.checkpoint(2)))
    assert sorted(os.listdir(root)) == [LATEST, "ckpt-1", "ckpt-2"]
    assert (tmp_path / LATEST).read_text(encoding="utf-8") == "ckpt-1"
    loaded = load_latest_checkpoint(root)
    assert loaded is not None
    assert loaded["meta"]["position"]["global_step"] == 2
    save_checkpoint(root, run.checkpoint(3))
    assert sorted(os.listdir(root)) == [LATEST, "ckpt-3"]
    assert latest_name(root) == "ckpt-3"


def test_kill_before_the_first_latest_keeps_the_folder(
    tmp_path: Path, make_model: MakeModel
) -> None:
    run = Run(make_model(), steps=1)
    assert latest_name(str(tmp_path / "absent")) is None
    assert latest_name(str(tmp_path)) is None
    publish_checkpoint_dir(write_checkpoint_dir(str(tmp_path), run.checkpoint(4)))
    assert latest_name(str(tmp_path)) == "ckpt-4"


def test_kill_before_latest_replace_keeps_latest(tmp_path: Path, make_model: MakeModel) -> None:
    root = str(tmp_path)
    run = Run(make_model(), steps=0)
    save_checkpoint(root, run.checkpoint(1))
    (tmp_path / "LATEST.tmp").write_text("ckpt-2", encoding="utf-8")
    assert latest_name(root) == "ckpt-1"
    point_latest(root, "ckpt-1")
    assert not (tmp_path / "LATEST.tmp").exists()


def test_the_latest_folder_is_never_replaced(tmp_path: Path, make_model: MakeModel) -> None:
    root = str(tmp_path)
    run = Run(make_model(), steps=0)
    save_checkpoint(root, run.checkpoint(3))
    with pytest.raises(ModelTrainerError) as caught:
        save_checkpoint(root, run.checkpoint(3))
    assert caught.value.code == "ARTIFACT_UPLOAD_FAILED"
    assert load_latest_checkpoint(root) is not None


def test_latest_naming_no_checkpoint_folder(tmp_path: Path) -> None:
    (tmp_path / LATEST).write_text("../elsewhere", encoding="utf-8")
    with pytest.raises(ModelTrainerError) as caught:
        load_latest_checkpoint(str(tmp_path))
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert str(tmp_path / LATEST) in caught.value.message


def test_latest_naming_a_missing_folder(tmp_path: Path) -> None:
    (tmp_path / LATEST).write_text("ckpt-7", encoding="utf-8")
    with pytest.raises(ModelTrainerError) as caught:
        load_latest_checkpoint(str(tmp_path))
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert str(tmp_path / "ckpt-7" / "rng.safetensors") in caught.value.message


@pytest.fixture
def saved(tmp_path: Path, make_model: MakeModel) -> Path:
    """A folder holding one good checkpoint with one epoch of history."""
    run = Run(make_model(), steps=1)
    return Path(save_checkpoint(str(tmp_path), run.checkpoint(1, [metrics(1, 2.0, 1.5)])))


def load_failure(folder: Path) -> str:
    with pytest.raises(ModelTrainerError) as caught:
        load_checkpoint(str(folder))
    assert caught.value.code == "MODEL_LOAD_FAILED"
    return caught.value.message


@pytest.mark.parametrize(
    "name", ["model.safetensors", "optimizer.pt", "rng.safetensors", "state.json"]
)
def test_missing_file(saved: Path, name: str) -> None:
    (saved / name).unlink()
    assert str(saved / name) in load_failure(saved)


@pytest.mark.parametrize("name", ["model.safetensors", "rng.safetensors"])
def test_corrupt_safetensors(saved: Path, name: str) -> None:
    (saved / name).write_bytes(b"garbage" * 20)
    assert str(saved / name) in load_failure(saved)


def test_rng_without_cpu_state(saved: Path) -> None:
    save_file({"cuda:0": torch.zeros(4, dtype=torch.uint8)}, str(saved / "rng.safetensors"))
    assert "no CPU random state" in load_failure(saved)


@pytest.mark.parametrize("cut", [0, 7, 200])
def test_corrupt_optimizer_file(saved: Path, cut: int) -> None:
    path = saved / "optimizer.pt"
    data = b"not a pickle at all" if cut == 7 else path.read_bytes()[:cut]
    path.write_bytes(data)
    assert str(path) in load_failure(saved)


def test_optimizer_file_of_other_content(saved: Path) -> None:
    torch.save(torch.ones(2), str(saved / "optimizer.pt"))
    assert "optimizer state is not an object" in load_failure(saved)
    torch.save({"state": {}}, str(saved / "optimizer.pt"))
    assert "optimizer state lacks param_groups" in load_failure(saved)


def rewrite_state(folder: Path, edit: Callable[[dict[str, object]], object]) -> None:
    path = folder / "state.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(edit(data)), encoding="utf-8")


def test_state_not_json(saved: Path) -> None:
    (saved / "state.json").write_text("{not json", encoding="utf-8")
    assert "not JSON" in load_failure(saved)


def set_key(key: str, value: object) -> Callable[[dict[str, object]], object]:
    def edit(data: dict[str, object]) -> object:
        data[key] = value
        return data

    return edit


def set_in(outer: str, key: str, value: object) -> Callable[[dict[str, object]], object]:
    def edit(data: dict[str, object]) -> object:
        inner = data[outer]
        target = inner[0] if isinstance(inner, list) else inner
        assert isinstance(target, dict)
        target[key] = value
        return data

    return edit


def drop_key(key: str) -> Callable[[dict[str, object]], object]:
    def edit(data: dict[str, object]) -> object:
        del data[key]
        return data

    return edit


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda data: [data], "must hold a JSON object, got list"),
        (drop_key("seed"), "state.json: lacks seed"),
        (set_key("seed", "5"), "seed must be an integer"),
        (set_key("seed", True), "seed must be an integer"),
        (set_key("best_loss", "low"), "best_loss must be a number"),
        (set_key("history", {}), "history must be a list"),
        (set_key("scheduler", []), "scheduler must be an object, got []"),
        (set_key("position", 3), "position must be an object, got 3"),
        (set_in("position", "tokens", 1.5), "position.tokens must be an integer, got 1.5"),
        (set_in("position", "loss_sum", None), "loss_sum must be a number"),
        (set_in("position", "best_reading", False), "best_reading must be a number"),
        (set_in("history", "loss", "x"), "history[0].loss must be a number, got 'x'"),
        (set_in("history", "val_loss", [1]), "val_loss must be a number"),
    ],
)
def test_malformed_state(
    saved: Path, edit: Callable[[dict[str, object]], object], detail: str
) -> None:
    rewrite_state(saved, edit)
    message = load_failure(saved)
    assert detail in message
    assert str(saved / "state.json") in message


def test_history_entry_lacking_a_field(saved: Path) -> None:
    def edit(data: dict[str, object]) -> object:
        history = data["history"]
        assert isinstance(history, list)
        del history[0]["learning_rate"]
        return data

    rewrite_state(saved, edit)
    assert "history[0] lacks learning_rate" in load_failure(saved)


def test_scheduler_state_is_lambda_lr_state(saved: Path) -> None:
    loaded = load_checkpoint(str(saved))
    weight = nn.Parameter(torch.zeros(1))
    scheduler = LambdaLR(torch.optim.SGD([weight], lr=1.0), lambda step: 1.0)
    scheduler.load_state_dict(loaded["meta"]["scheduler"])
    assert scheduler.last_epoch == 1


def test_an_older_folder_of_the_same_step_is_replaced(
    tmp_path: Path, make_model: MakeModel
) -> None:
    root = str(tmp_path)
    run = Run(make_model(), steps=0)
    save_checkpoint(root, run.checkpoint(3))
    (tmp_path / "ckpt-2").mkdir()
    (tmp_path / "ckpt-2" / "stale").write_text("x", encoding="utf-8")
    assert publish_checkpoint_dir(write_checkpoint_dir(root, run.checkpoint(2))) == "ckpt-2"
    assert not (tmp_path / "ckpt-2" / "stale").exists()
    assert latest_name(root) == "ckpt-3"


def test_a_full_disk_keeps_the_previous_checkpoint_whole(
    tmp_path: Path, tmpfs: Callable[[str, bool], Path], make_model: MakeModel
) -> None:
    run = Run(make_model(), steps=1)
    first = run.checkpoint(1, [metrics(1, 2.0, None)])
    size = sum(
        path.stat().st_size for path in Path(save_checkpoint(str(tmp_path), first)).iterdir()
    )
    root = tmpfs(f"{size // 1024 + 64}k", False) / "checkpoint"
    save_checkpoint(str(root), first)
    done = subprocess.run(
        ["dd", "if=/dev/zero", f"of={root.parent / 'filler'}", "bs=4k"],
        capture_output=True,
        check=False,
    )
    assert b"No space left" in done.stderr
    with pytest.raises(ModelTrainerError) as caught:
        save_checkpoint(str(root), run.checkpoint(2))
    assert caught.value.code == "ARTIFACT_UPLOAD_FAILED"
    assert caught.value.message.startswith(f"cannot write {root}")
    assert "no space left on its device" in caught.value.message
    assert sorted(os.listdir(root)) == [LATEST, "ckpt-1"]
    loaded = load_latest_checkpoint(str(root))
    assert loaded is not None
    assert loaded["meta"]["position"]["global_step"] == 1


class Pickled:
    """An object only unpickling can rebuild."""


@pytest.mark.parametrize("content", [b"not a pickle at all", None])
def test_a_refused_pickle_gets_the_kits_advice(saved: Path, content: bytes | None) -> None:
    path = saved / "optimizer.pt"
    if content is None:
        torch.save({"state": {}, "param_groups": [], "hook": Pickled()}, str(path))
    else:
        path.write_bytes(content)
    message = load_failure(saved)
    assert message == (
        f"checkpoint file {path}: not an optimizer state the kit wrote: the safe reader "
        "(tensors, numbers and lists only) refused it, as damaged or holding objects that only "
        "unpickling could rebuild, and unpickling can run any code, so the kit never does; "
        "restore the run's checkpoint folder, or start the run again"
    )
    assert "weights_only" not in message

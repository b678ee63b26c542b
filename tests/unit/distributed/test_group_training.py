"""``run_training`` as a rank of a real Gloo group of one: same losses, votes, failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, Self

import pytest
from torch import Tensor, device, nn
from torch.nn import Parameter

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    EpochMetrics,
    ModelTrainConfig,
    PreparedLMModel,
    TrainData,
    TrainingCallbacks,
    TrainOutcome,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import (
    checkpoint_dir,
    load_history,
    load_latest_checkpoint,
)
from model_trainer.core.training.dataset import load_data
from model_trainer.core.training.distributed import SOLO_WORLD, Collective, process_group
from model_trainer.core.training.loop import run_training


class MakeConfig(Protocol):
    """Builds a tiny config with integer fields replaced (the ``make_config`` fixture)."""

    def __call__(self, **fields: int) -> ModelTrainConfig: ...


class Driver:
    """Callbacks of one run: records epochs and validations; cancels after some checks."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.cancel_after = cancel_after
        self.checks = 0
        self.epochs: list[EpochMetrics] = []
        self.evals: list[tuple[int, float]] = []

    def cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after

    def context(
        self, folder: Path, settings: Settings, data: TrainData, *, resume: bool = False
    ) -> TrainingCallbacks:
        return {
            "heartbeat": lambda now: None,
            "cancelled": self.cancelled,
            "progress": None,
            "epoch_end": self.epochs.append,
            "run": {"run_dir": str(folder), "resume": resume, "data": data, "settings": settings},
        }

    def on_eval(self, step: int, loss: float) -> None:
        self.evals.append((step, loss))


def losses(history: list[EpochMetrics]) -> list[float]:
    """Each epoch's training and validation loss, in one flat list."""
    return [loss for m in history for loss in (m["loss"], m["val_loss"]) if loss is not None]


class Trial:
    """Runs of one config on one corpus, each in its own folder."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        config: MakeConfig,
        prepared: Callable[[ModelTrainConfig], PreparedLMModel],
    ) -> None:
        self.root = root
        self.settings = settings
        self.config = config
        self.prepared = prepared

    def run(
        self,
        name: str,
        cfg: ModelTrainConfig,
        driver: Driver,
        *,
        listen: bool = True,
        prepared: PreparedLMModel | None = None,
        resume: bool = False,
    ) -> TrainOutcome:
        model = self.prepared(cfg) if prepared is None else prepared
        data = load_data(cfg, self.settings, model["tokenizer"])
        context = driver.context(self.root / name, self.settings, data, resume=resume)
        if listen:
            context["evaluated"] = driver.on_eval
        return run_training(model, cfg, context)


@pytest.fixture
def trial(
    tmp_path: Path,
    settings: Settings,
    make_config: MakeConfig,
    prepare: Callable[[ModelTrainConfig], PreparedLMModel],
) -> Trial:
    return Trial(tmp_path, settings, make_config, prepare)


def test_a_group_of_one_trains_as_one_process(trial: Trial, tmp_path: Path) -> None:
    cfg = trial.config(grad_accum_steps=2, eval_every_steps=1, checkpoint_every_steps=2)
    alone = Driver()
    trial.run("alone", cfg, alone)
    grouped, unheard = Driver(), Driver()
    store = f"file://{tmp_path / 'store'}"
    with process_group(SOLO_WORLD, device="cpu", timeout_s=30.0, init_method=store):
        trial.run("grouped", cfg, grouped)
        trial.run("unheard", cfg, unheard, listen=False)
    assert len(alone.epochs) == 2
    for driver in (grouped, unheard):
        assert losses(driver.epochs) == pytest.approx(losses(alone.epochs), rel=1e-6)
    assert [step for step, _ in grouped.evals] == [step for step, _ in alone.evals] == [1, 2, 4, 5]
    assert unheard.evals == []
    assert load_history(str(tmp_path / "grouped")) == grouped.epochs


def test_stop_vote_then_resume_in_a_group(trial: Trial, one_rank_group: Collective) -> None:
    cfg = trial.config()
    whole = Driver()
    trial.run("whole", cfg, whole)
    stopped = trial.run("parts", cfg, Driver(cancel_after=8))
    assert stopped["cancelled"]
    assert stopped["steps"] == 8
    checkpoint = load_latest_checkpoint(checkpoint_dir(str(trial.root / "parts")))
    assert checkpoint is not None
    assert checkpoint["meta"]["position"]["step_in_epoch"] == 2
    rest = Driver()
    done = trial.run("parts", cfg, rest, resume=True)
    assert done["epochs_completed"] == 2
    assert losses(rest.epochs) == pytest.approx(losses(whole.epochs[1:]), rel=1e-9)


class FailsAt(nn.Module):
    """Wraps a model; its ``at``-th call raises as a collective with a dead peer does."""

    def __init__(self, inner: nn.Module, at: int) -> None:
        super().__init__()
        self.inner = inner
        self.at = at
        self.calls = 0

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        self.calls += 1
        if self.calls >= self.at:
            raise RuntimeError("Connection closed by peer [127.0.0.1]:29500")
        logits: Tensor = self.inner(input_ids)  # (B, T, V)
        return logits


def test_a_failure_in_a_group_says_the_group_failed(
    trial: Trial, one_rank_group: Collective
) -> None:
    cfg = trial.config()
    prepared = trial.prepared(cfg)
    inner = prepared["model"]
    assert isinstance(inner, nn.Module)
    with pytest.raises(ModelTrainerError) as caught:
        trial.run("failing", cfg, Driver(), prepared={**prepared, "model": FailsAt(inner, 3)})
    assert caught.value.code == "INTERNAL_ERROR"
    assert "rank 0 of 1: the process group failed during training" in caught.value.message
    assert "Connection closed by peer" in caught.value.message


class Plain:
    """A language model that is not a ``torch.nn.Module`` itself (it holds one)."""

    def __init__(self, inner: nn.Module) -> None:
        self.inner = inner

    @property
    def training(self) -> bool:
        return self.inner.training

    def __call__(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        logits: Tensor = self.inner(input_ids)  # (B, T, V)
        return logits

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return self.inner.parameters(recurse)

    def train(self, mode: bool = True) -> Self:
        self.inner.train(mode)
        return self

    def eval(self) -> Self:
        self.inner.eval()
        return self

    def to(self, device: str | device) -> Self:
        self.inner.to(device)
        return self

    def state_dict(self) -> Mapping[str, Tensor]:
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Tensor]) -> object:
        return self.inner.load_state_dict(state_dict)


def test_only_a_torch_module_trains_in_a_group(trial: Trial, one_rank_group: Collective) -> None:
    cfg = trial.config()
    prepared = trial.prepared(cfg)
    inner = prepared["model"]
    assert isinstance(inner, nn.Module)
    with pytest.raises(ModelTrainerError) as caught:
        trial.run("plain", cfg, Driver(), prepared={**prepared, "model": Plain(inner)})
    assert caught.value.code == "MODEL_INCOMPATIBLE"
    assert "needs a torch.nn.Module, got a Plain" in caught.value.message

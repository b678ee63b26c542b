"""One training run end to end: learning, determinism, resume, cancel, failures."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Protocol, TypedDict, Unpack

import pytest
from torch import Tensor, nn

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import (
    EpochMetrics,
    ModelTrainConfig,
    Precision,
    PreparedLMModel,
    TrainData,
    TrainingCallbacks,
    TrainOutcome,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.corpus import split_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import (
    Checkpoint,
    checkpoint_dir,
    load_history,
    load_latest_checkpoint,
)
from model_trainer.core.training.dataset import load_data
from model_trainer.core.training.loop import run_training


class MakePrepared(Protocol):
    """Builds a fresh prepared tiny model (the ``make_prepared`` fixture)."""

    def __call__(self, *, seed: int = 0, dropout: float = 0.1) -> PreparedLMModel: ...


class MakeModel(Protocol):
    """Builds a seeded tiny model (the ``make_model`` fixture)."""

    def __call__(
        self, *, seed: int = 0, dropout: float = 0.0, tie: bool = False, cell: str = "lstm"
    ) -> nn.Module: ...


class Driver:
    """Callbacks of one run: records epochs and progress; cancels on request."""

    def __init__(
        self, *, cancel_after_checks: int | None = None, cancel_after_epochs: int | None = None
    ) -> None:
        self.cancel_after_checks = cancel_after_checks
        self.cancel_after_epochs = cancel_after_epochs
        self.checks = 0
        self.epochs: list[EpochMetrics] = []
        self.progress: list[tuple[int, int, float]] = []
        self.beats = 0

    def cancelled(self) -> bool:
        self.checks += 1
        if self.cancel_after_epochs is not None:
            return len(self.epochs) >= self.cancel_after_epochs
        return self.cancel_after_checks is not None and self.checks > self.cancel_after_checks

    def beat(self, now: float) -> None:
        self.beats += 1

    def context(
        self, run_dir: Path, settings: Settings, data: TrainData, *, resume: bool = False
    ) -> TrainingCallbacks:
        return {
            "heartbeat": self.beat,
            "cancelled": self.cancelled,
            "progress": lambda step, epoch, loss: self.progress.append((step, epoch, loss)),
            "epoch_end": self.epochs.append,
            "run": {"run_dir": str(run_dir), "resume": resume, "data": data, "settings": settings},
        }


class Options(TypedDict, total=False):
    max_seq_len: int
    batch_size: int
    num_epochs: int
    learning_rate: float
    warmup_steps: int
    grad_accum_steps: int
    val_fraction: float
    eval_every_steps: int
    checkpoint_every_steps: int
    max_steps_per_epoch: int
    seed: int
    precision: Precision
    compile: bool


SMALL: Options = {
    "max_seq_len": 16,
    "batch_size": 8,
    "num_epochs": 3,
    "learning_rate": 1e-2,
    "warmup_steps": 2,
    "max_steps_per_epoch": 6,
    "precision": "fp32",
}


class NanFrom(nn.Module):
    """Wraps a model; its logits are NaN from the ``at``-th training call on (1-based)."""

    def __init__(self, inner: nn.Module, at: int) -> None:
        super().__init__()
        self.inner = inner
        self.at = at
        self.calls = 0

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        self.calls += self.training
        logits: Tensor = self.inner(input_ids)  # (B, T, V)
        return logits * math.nan if self.calls >= self.at else logits


def prepared_of(model: nn.Module, tok: TokenizerHandle) -> PreparedLMModel:
    return {
        "model": model,
        "model_family": "tiny",
        "model_size": "tiny",
        "tokenizer": tok,
        "tokenizer_id": tok.tokenizer_id,
        "eos_id": tok.eos_id,
        "pad_id": tok.pad_id,
        "max_seq_len": 32,
        "tok_for_dataset": tok,
        "device": "cpu",
    }


class Lab:
    """Runs of the small config on the test corpus, each in a folder of ``root``."""

    def __init__(
        self,
        *,
        make_prepared: MakePrepared,
        make_model: MakeModel,
        codec: TokenizerHandle,
        corpus_file: str,
        settings: Settings,
        root: Path,
    ) -> None:
        self.make_prepared = make_prepared
        self.make_model = make_model
        self.codec = codec
        self.corpus_file = corpus_file
        self.settings = settings
        self.root = root

    def config(self, **options: Unpack[Options]) -> ModelTrainConfig:
        merged: Options = {**SMALL, **options}
        return train_config(
            corpus_path=self.corpus_file,
            vocab_size=self.codec.vocab_size,
            device="cpu",
            **merged,
        )

    def run_dir(self, name: str) -> str:
        return str(self.root / name)

    def run(
        self,
        name: str,
        cfg: ModelTrainConfig,
        driver: Driver,
        *,
        prepared: PreparedLMModel | None = None,
        resume: bool = False,
    ) -> TrainOutcome:
        model = self.make_prepared() if prepared is None else prepared
        context = driver.context(
            self.root / name, self.settings, self.data(cfg, model), resume=resume
        )
        return run_training(model, cfg, context)

    def data(self, cfg: ModelTrainConfig, prepared: PreparedLMModel) -> TrainData:
        return load_data(cfg, self.settings, prepared["tokenizer"])

    def latest(self, name: str) -> Checkpoint:
        checkpoint = load_latest_checkpoint(checkpoint_dir(self.run_dir(name)))
        assert checkpoint is not None
        return checkpoint


@pytest.fixture
def lab(
    make_prepared: MakePrepared,
    make_model: MakeModel,
    codec: TokenizerHandle,
    corpus_file: str,
    settings: Settings,
) -> Lab:
    return Lab(
        make_prepared=make_prepared,
        make_model=make_model,
        codec=codec,
        corpus_file=corpus_file,
        settings=settings,
        root=Path(corpus_file).parent,
    )


def losses(history: list[EpochMetrics]) -> list[tuple[float, float | None]]:
    return [(m["loss"], m["val_loss"]) for m in history]


def unigram_loss(train: str, val: str) -> float:
    """Cross-entropy (nats per char) of ``val`` under the character frequencies of ``train``."""
    counts = Counter(train)
    return -sum(math.log(counts[char] / len(train)) for char in val) / len(val)


def test_learns_below_the_unigram_baseline(lab: Lab, text: str) -> None:
    cfg = lab.config(
        max_seq_len=32,
        batch_size=16,
        num_epochs=6,
        learning_rate=3e-2,
        warmup_steps=5,
        max_steps_per_epoch=0,
    )
    driver = Driver()
    outcome = lab.run("learn", cfg, driver)
    train_text, val_text = split_text(text, cfg["val_fraction"])
    val_loss = outcome["val_loss"]
    assert val_loss is not None
    assert val_loss < unigram_loss(train_text, val_text) - 0.15
    assert val_loss < 0.7 * math.log(lab.codec.vocab_size)
    assert outcome["epochs_completed"] == 6
    assert not outcome["cancelled"]
    assert outcome["loss_unit"] == "char"
    assert outcome["val_perplexity"] == pytest.approx(math.exp(val_loss))
    assert outcome["steps"] == driver.epochs[-1]["global_step"]
    assert driver.epochs == load_history(lab.run_dir("learn"))
    assert driver.beats >= 6
    assert len(driver.progress) >= 6


def test_same_seed_same_losses(lab: Lab) -> None:
    first, second = Driver(), Driver()
    lab.run("a", lab.config(), first)
    lab.run("b", lab.config(), second)
    assert len(first.epochs) == 3
    assert losses(first.epochs) == losses(second.epochs)


def test_resume_after_an_epoch_gives_the_same_losses(lab: Lab) -> None:
    whole = Driver()
    lab.run("whole", lab.config(), whole)
    first = Driver(cancel_after_epochs=1)
    stopped = lab.run("parts", lab.config(), first)
    assert stopped["cancelled"]
    assert stopped["epochs_completed"] == 1
    assert stopped["steps"] == 6
    assert stopped["loss"] == whole.epochs[0]["loss"]
    rest = Driver()
    done = lab.run("parts", lab.config(), rest, prepared=lab.make_prepared(seed=9), resume=True)
    assert not done["cancelled"]
    assert done["epochs_completed"] == 3
    assert [m["epoch"] for m in rest.epochs] == [2, 3]
    assert losses(rest.epochs) == losses(whole.epochs[1:])
    assert losses(load_history(lab.run_dir("parts"))) == losses(whole.epochs)


def test_cancel_mid_epoch_then_resume(lab: Lab) -> None:
    cfg = lab.config(grad_accum_steps=2)
    whole = Driver()
    lab.run("whole", cfg, whole)
    stopped = lab.run("cut", cfg, Driver(cancel_after_checks=4))
    assert stopped["cancelled"]
    assert stopped["epochs_completed"] == 1
    assert stopped["steps"] == 4
    assert losses(load_history(lab.run_dir("cut"))) == losses(whole.epochs[:1])
    position = lab.latest("cut")["meta"]["position"]
    assert (position["epoch"], position["step_in_epoch"], position["global_step"]) == (1, 2, 4)
    rest = Driver()
    lab.run("cut", cfg, rest, prepared=lab.make_prepared(seed=5), resume=True)
    assert losses(rest.epochs) == losses(whole.epochs[1:])


def test_cancel_before_any_step(lab: Lab) -> None:
    outcome = lab.run("none", lab.config(), Driver(cancel_after_checks=0))
    assert outcome["cancelled"]
    assert outcome["steps"] == 0
    assert outcome["epochs_completed"] == 0
    assert math.isnan(outcome["loss"])
    assert outcome["val_loss"] is None
    assert outcome["tokens_per_second"] == 0.0
    assert load_history(lab.run_dir("none")) == []


def test_nan_keeps_the_last_good_checkpoint(lab: Lab) -> None:
    prepared = prepared_of(NanFrom(lab.make_model(), at=9), lab.codec)
    driver = Driver()
    with pytest.raises(ModelTrainerError) as caught:
        lab.run("nan", lab.config(), driver, prepared=prepared)
    assert caught.value.code == "TRAINING_NAN_LOSS"
    assert len(driver.epochs) == 1
    checkpoint = lab.latest("nan")
    assert checkpoint["meta"]["position"]["global_step"] == 6
    assert checkpoint["meta"]["history"] == driver.epochs


def test_huge_learning_rate_is_caught(lab: Lab) -> None:
    cfg = lab.config(learning_rate=1e30, warmup_steps=0)
    with pytest.raises(ModelTrainerError) as caught:
        lab.run("huge", cfg, Driver())
    assert caught.value.code == "TRAINING_NAN_LOSS"
    assert load_history(lab.run_dir("huge")) == []


def test_resume_without_a_checkpoint(lab: Lab) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        lab.run("empty", lab.config(), Driver(), resume=True)
    assert caught.value.code == "MODEL_NOT_FOUND"
    assert checkpoint_dir(lab.run_dir("empty")) in caught.value.message


def test_resume_with_another_seed(lab: Lab) -> None:
    lab.run("seeded", lab.config(num_epochs=1), Driver())
    with pytest.raises(ModelTrainerError) as caught:
        lab.run("seeded", lab.config(num_epochs=1, seed=1), Driver(), resume=True)
    assert caught.value.code == "MODEL_INCOMPATIBLE"
    assert "seed=1" in caught.value.message


def test_without_validation_and_with_token_units(lab: Lab, bpe_like: TokenizerHandle) -> None:
    cfg = lab.config(num_epochs=1, val_fraction=0.0)
    prepared = prepared_of(lab.make_model(), bpe_like)
    context = Driver().context(lab.root / "plain", lab.settings, lab.data(cfg, prepared))
    context["epoch_end"] = None
    outcome = run_training(prepared, cfg, context)
    assert outcome["val_loss"] is None
    assert outcome["val_perplexity"] is None
    assert outcome["loss_unit"] == "token"
    assert outcome["epochs_completed"] == 1
    assert load_history(lab.run_dir("plain"))[0]["val_loss"] is None


def test_step_checkpoints_and_evaluations(lab: Lab) -> None:
    cfg = lab.config(num_epochs=1, eval_every_steps=2, checkpoint_every_steps=4)
    evals: list[tuple[int, float]] = []
    prepared = lab.make_prepared()
    context = Driver(cancel_after_checks=5).context(
        lab.root / "steps", lab.settings, lab.data(cfg, prepared)
    )
    context["evaluated"] = lambda step, loss: evals.append((step, loss))
    outcome = run_training(prepared, cfg, context)
    assert outcome["cancelled"]
    assert [step for step, _ in evals] == [2, 4]
    checkpoint = lab.latest("steps")
    assert checkpoint["meta"]["position"]["global_step"] == 5
    assert checkpoint["meta"]["history"] == []


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_model_trains_and_checkpoints_plain_names(lab: Lab) -> None:
    cfg = lab.config(num_epochs=1, max_steps_per_epoch=2, compile=True)
    outcome = lab.run("compiled", cfg, Driver())
    assert outcome["epochs_completed"] == 1
    assert "embed.weight" in lab.latest("compiled")["weights"]

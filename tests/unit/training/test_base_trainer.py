"""The training loop: step order, readings, accumulation, clipping, failures and cancel."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal, Protocol, TypedDict, Unpack

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional
from torch.optim import Optimizer

from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import (
    EpochMetrics,
    LMModelProto,
    Reading,
    TrainingCallbacks,
)
from model_trainer.core.contracts.tokenizer import Encoder
from model_trainer.core.contracts.units import perplexity
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.checkpoint import TrainPosition, start_position
from model_trainer.core.training.compile import CPU_COMPILE, CompileCosts, compile_pays
from model_trainer.core.training.dataset import TokenWindows, encode_corpus, epoch_length
from model_trainer.core.training.distributed import Forward
from model_trainer.core.training.evaluate import evaluate_loss, sample_windows
from model_trainer.core.training.loop import BaseTrainer
from model_trainer.core.training.loss import DIVERGENCE_NATS, check_loss, oom_code, require_finite
from model_trainer.core.training.optimizer import make_optimizer, use_fused
from model_trainer.core.training.options import EVAL_QUIET_S, EVAL_STAGE
from model_trainer.core.training.schedule import build_scheduler


class MakeModel(Protocol):
    """Builds a seeded tiny model (the ``make_model`` fixture)."""

    def __call__(
        self, *, seed: int = 0, dropout: float = 0.0, tie: bool = False, cell: str = "lstm"
    ) -> nn.Module: ...


Fault = Literal["nan", "nan_weights", "spike", "oom", "error"]


class Recorder:
    """Training callbacks that record what they receive; cancels after ``cancel_after`` checks."""

    def __init__(
        self, cancel_after: int | None = None, *, report: bool = True, stages: bool = False
    ) -> None:
        self.cancel_after = cancel_after
        self.report = report
        self.stages: list[tuple[str, float]] | None = [] if stages else None
        self.checks = 0
        self.beats: list[float] = []
        self.progress: list[tuple[int, int, float]] = []
        self.checkpoints: list[tuple[TrainPosition, int]] = []
        self.evals: list[tuple[int, float]] = []

    def cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after

    def callbacks(self) -> TrainingCallbacks:
        callbacks: TrainingCallbacks = {
            "heartbeat": self.beats.append,
            "cancelled": self.cancelled,
            "progress": self.on_progress if self.report else None,
            "evaluated": self.on_eval,
        }
        if self.stages is not None:
            callbacks["evaluating"] = self._stage
        return callbacks

    def _stage(self, what: str, done: float) -> None:
        assert self.stages is not None
        self.stages.append((what, done))

    def on_progress(self, step: int, epoch: int, loss: float) -> None:
        self.progress.append((step, epoch, loss))

    def on_checkpoint(self, position: TrainPosition, history: list[EpochMetrics]) -> None:
        self.checkpoints.append(({**position}, len(history)))

    def on_eval(self, step: int, loss: float) -> None:
        self.evals.append((step, loss))


class Scripted(nn.Module):
    """A tiny causal model that misbehaves from its ``at``-th call on (1-based)."""

    def __init__(self, inner: nn.Module, *, fault: Fault, at: int) -> None:
        super().__init__()
        self.inner = inner
        self.fault = fault
        self.at = at
        self.calls = 0

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        self.calls += 1
        logits: Tensor = self.inner(input_ids)  # (B, T, V)
        if self.calls < self.at:
            return logits
        if self.fault == "nan":
            return logits * math.nan
        if self.fault == "spike":
            return logits * 1e4
        if self.fault == "nan_weights":
            with torch.no_grad():
                self.inner.get_parameter("head.bias").fill_(math.nan)
            return logits
        if self.fault == "oom":
            raise RuntimeError("CPU out of memory: tried to allocate 9 GiB")
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


class DtypeProbe:
    """A forward that records the dtype of the logits it returns."""

    def __init__(self, model: LMModelProto) -> None:
        self.model = model
        self.dtypes: list[torch.dtype] = []

    def __call__(self, input_ids: Tensor) -> Tensor:
        logits = self.model(input_ids)
        self.dtypes.append(logits.dtype)
        return logits


class Options(TypedDict, total=False):
    val: TokenWindows | None
    num_epochs: int
    precision: Literal["fp32", "bf16"]
    grad_clip: float
    grad_accum_steps: int
    eval_every_steps: int
    max_steps_per_epoch: int
    checkpoint_every_steps: int
    progress_interval_s: float
    start: TrainPosition
    optimizer: Optimizer
    forward: Forward
    eval_max_tokens: int
    epoch_eval_max_tokens: int
    eval_quiet_s: float


@pytest.fixture
def windows(text: str, codec: Encoder) -> TokenWindows:
    return TokenWindows(encode_corpus(text, codec), seq_len=16, batch_size=8, seed=0)


@pytest.fixture
def val_windows(text: str, codec: Encoder) -> TokenWindows:
    ids = encode_corpus(text[-1200:], codec)
    return TokenWindows(ids, seq_len=16, batch_size=8, seed=0, shuffle=False)


def train(
    model: nn.Module, windows: TokenWindows, recorder: Recorder, **options: Unpack[Options]
) -> list[EpochMetrics]:
    optimizer = options.get("optimizer") or make_optimizer(
        model.parameters(), lr=3e-3, weight_decay=0.01, device="cpu"
    )
    scheduler = build_scheduler(optimizer, warmup_steps=2, total_steps=100)
    epochs: Iterator[EpochMetrics] = BaseTrainer().train_epochs(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        train=windows,
        val=options.get("val"),
        num_epochs=options.get("num_epochs", 2),
        device="cpu",
        callbacks=recorder.callbacks(),
        cfg=train_config(
            precision=options.get("precision", "fp32"),
            grad_clip=options.get("grad_clip", 1.0),
            grad_accum_steps=options.get("grad_accum_steps", 1),
            eval_every_steps=options.get("eval_every_steps", 0),
            max_steps_per_epoch=options.get("max_steps_per_epoch", 5),
            checkpoint_every_steps=options.get("checkpoint_every_steps", 0),
            eval_max_tokens=options.get("eval_max_tokens", 0),
            epoch_eval_max_tokens=options.get("epoch_eval_max_tokens", 0),
        ),
        options={
            "progress_interval_s": options.get("progress_interval_s", 1e9),
            "eval_quiet_s": options.get("eval_quiet_s", EVAL_QUIET_S),
        },
        start=options.get("start", start_position()),
        on_checkpoint=recorder.on_checkpoint,
        forward=options.get("forward"),
    )
    return list(epochs)


def test_pure_helpers() -> None:
    assert oom_code(RuntimeError("CUDA out of memory. Tried"), "cuda:0") == "CUDA_OOM"
    assert oom_code(RuntimeError("DefaultCPUAllocator: Out Of Memory"), "cpu") == "TRAINING_OOM"
    assert oom_code(RuntimeError("shape mismatch"), "cuda") is None
    assert use_fused("cuda")
    assert use_fused("cuda:1")
    assert use_fused("cpu")
    assert not use_fused("mps")
    assert epoch_length(10, 0) == 10
    assert epoch_length(10, 4) == 4
    assert epoch_length(10, 40) == 10
    assert perplexity(0.0) == 1.0
    assert perplexity(1e6) == math.exp(700.0)
    check_loss(3.0, None, step=1)
    check_loss(3.0 + DIVERGENCE_NATS, 3.0, step=1)


@pytest.mark.parametrize(
    ("loss", "best", "code"),
    [
        (math.nan, None, "TRAINING_NAN_LOSS"),
        (math.inf, 2.0, "TRAINING_NAN_LOSS"),
        (12.5, 2.0, "TRAINING_DIVERGED"),
    ],
)
def test_check_loss_raises(loss: float, best: float | None, code: str) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        check_loss(loss, best, step=7)
    assert caught.value.code == code
    assert "step 7" in caught.value.message


def test_make_optimizer_decays_matrices_only(make_model: MakeModel) -> None:
    model = make_model()
    model.get_parameter("head.bias").requires_grad_(False)
    optimizer = make_optimizer(model.parameters(), lr=0.1, weight_decay=0.3, device="cpu")
    decay, plain = optimizer.param_groups
    assert decay["weight_decay"] == 0.3
    assert plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"])
    assert all(p.dim() < 2 for p in plain["params"])
    assert len(decay["params"]) + len(plain["params"]) == len(list(model.parameters())) - 1
    assert decay["fused"] is True


def test_require_finite(make_model: MakeModel) -> None:
    model = make_model()
    require_finite(list(model.parameters()), 3)
    with torch.no_grad():
        model.get_parameter("head.weight")[0, 0] = math.inf
    with pytest.raises(ModelTrainerError) as raised:
        require_finite(list(model.parameters()), 3)
    assert raised.value.code == "TRAINING_NAN_LOSS"
    assert "by step 3" in raised.value.message


def test_evaluate_loss_is_the_token_mean(make_model: MakeModel, val_windows: TokenWindows) -> None:
    model = make_model()
    loss, count = evaluate_loss(model, val_windows, "cpu", "fp32")
    assert not model.training
    total, tokens = 0.0, 0
    with torch.no_grad():
        for inputs, targets in val_windows.batches(0):
            logits = model(inputs)
            total += functional.cross_entropy(
                logits.flatten(0, 1), targets.flatten(), reduction="sum"
            ).item()
            tokens += targets.numel()
    assert count == tokens == val_windows.num_windows * 16
    assert loss == pytest.approx(total / tokens, rel=1e-6)


def test_a_sample_is_fixed_by_the_seed(val_windows: TokenWindows, codec: Encoder) -> None:
    chosen = sample_windows(val_windows, 5 * 16 + 15)
    assert chosen.tolist() == sample_windows(val_windows, 5 * 16 + 15).tolist()
    assert chosen.tolist() == sorted(set(chosen.tolist()))
    assert len(chosen) == 5
    assert sample_windows(val_windows, 1).tolist() == sample_windows(val_windows, 16).tolist()
    assert len(sample_windows(val_windows, 1)) == 1
    every = list(range(val_windows.num_windows))
    assert sample_windows(val_windows, 0).tolist() == every
    assert sample_windows(val_windows, 10**9).tolist() == every
    reseeded = TokenWindows(val_windows.ids, seq_len=16, batch_size=8, seed=1, shuffle=False)
    assert sample_windows(reseeded, 5 * 16).tolist() != chosen.tolist()


def test_evaluate_loss_over_a_sample(make_model: MakeModel, val_windows: TokenWindows) -> None:
    model = make_model()
    chosen = sample_windows(val_windows, 20 * 16)
    loss, count = evaluate_loss(model, val_windows, "cpu", "fp32", chosen)
    again, _ = evaluate_loss(model, val_windows, "cpu", "fp32", chosen)
    assert (count, again) == (20 * 16, loss)
    offsets = torch.arange(17)
    rows = val_windows.ids[chosen[:, None] * 16 + offsets]  # (20, 17)
    with torch.no_grad():
        logits = model(rows[:, :-1])
    expected = functional.cross_entropy(logits.flatten(0, 1), rows[:, 1:].flatten()).item()
    assert loss == pytest.approx(expected, rel=1e-5)


def test_metrics_and_progress_only_when_due(
    make_model: MakeModel, windows: TokenWindows, val_windows: TokenWindows
) -> None:
    recorder = Recorder()
    history = train(make_model(), windows, recorder, val=val_windows, num_epochs=3)
    assert [m["epoch"] for m in history] == [1, 2, 3]
    assert [m["global_step"] for m in history] == [5, 10, 15]
    assert all(m["steps"] == 5 for m in history)
    assert len(recorder.progress) == 3
    assert len(recorder.beats) == 3
    assert [p[:2] for p in recorder.progress] == [(5, 0), (5, 1), (5, 2)]
    first = history[0]
    assert first["loss"] == pytest.approx(recorder.progress[0][2], rel=1e-6)
    assert first["perplexity"] == pytest.approx(math.exp(first["loss"]))
    assert first["val_loss"] is not None
    assert first["val_perplexity"] == pytest.approx(math.exp(first["val_loss"]))
    assert first["tokens_per_second"] > 0
    assert first["learning_rate"] > 0
    assert [c[0]["epoch"] for c in recorder.checkpoints] == [1, 2, 3]
    assert [c[1] for c in recorder.checkpoints] == [1, 2, 3]


def test_progress_every_step_when_interval_is_zero(
    make_model: MakeModel, windows: TokenWindows
) -> None:
    recorder = Recorder()
    history = train(make_model(), windows, recorder, progress_interval_s=0.0)
    assert [p[:2] for p in recorder.progress] == [
        *((step, 0) for step in range(1, 6)),
        *((step, 1) for step in range(1, 6)),
    ]
    assert history[1]["val_loss"] is None
    epoch_two = [p[2] for p in recorder.progress[5:]]
    assert history[1]["loss"] == pytest.approx(sum(epoch_two) / 5, rel=1e-6)


def test_heartbeats_without_a_progress_callback(
    make_model: MakeModel, windows: TokenWindows
) -> None:
    recorder = Recorder(report=False)
    train(make_model(), windows, recorder, progress_interval_s=0.0, num_epochs=1)
    assert len(recorder.beats) == 5
    assert recorder.progress == []


def test_accumulation_counts_updates(make_model: MakeModel, windows: TokenWindows) -> None:
    recorder = Recorder()
    history = train(make_model(), windows, recorder, grad_accum_steps=3, max_steps_per_epoch=7)
    assert [m["global_step"] for m in history] == [3, 6]
    assert [m["steps"] for m in history] == [7, 7]


def test_accumulation_matches_a_larger_batch(
    make_model: MakeModel, text: str, codec: Encoder
) -> None:
    ids = encode_corpus(text, codec)
    small = TokenWindows(ids, seq_len=16, batch_size=4, seed=0)
    large = TokenWindows(ids, seq_len=16, batch_size=8, seed=0)
    accumulated, plain = make_model(seed=3), make_model(seed=3)
    train(
        accumulated,
        small,
        Recorder(),
        grad_accum_steps=2,
        max_steps_per_epoch=4,
        num_epochs=1,
        optimizer=torch.optim.SGD(accumulated.parameters(), lr=0.5),
    )
    train(
        plain,
        large,
        Recorder(),
        max_steps_per_epoch=2,
        num_epochs=1,
        optimizer=torch.optim.SGD(plain.parameters(), lr=0.5),
    )
    for a, b in zip(accumulated.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def update_norm(model: nn.Module, windows: TokenWindows, grad_clip: float) -> float:
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    train(
        model,
        windows,
        Recorder(),
        grad_clip=grad_clip,
        max_steps_per_epoch=1,
        num_epochs=1,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float((after - before).norm())


def test_clipping_bounds_the_update(make_model: MakeModel, windows: TokenWindows) -> None:
    # warmup makes the first step's learning rate 1.0 / 2
    assert update_norm(make_model(), windows, 1e-3) == pytest.approx(0.5e-3, rel=1e-3)
    assert update_norm(make_model(), windows, 0.0) > 0.01


def test_bf16_autocast_runs_on_cpu(make_model: MakeModel, windows: TokenWindows) -> None:
    model = make_model(cell="gru")
    probe = DtypeProbe(model)
    history = train(model, windows, Recorder(), precision="bf16", forward=probe, num_epochs=1)
    assert set(probe.dtypes) == {torch.bfloat16}
    assert math.isfinite(history[0]["loss"])
    assert next(model.parameters()).dtype == torch.float32


def test_nan_loss_stops_before_the_next_checkpoint(
    make_model: MakeModel, windows: TokenWindows
) -> None:
    recorder = Recorder()
    model = Scripted(make_model(), fault="nan", at=8)
    with pytest.raises(ModelTrainerError) as caught:
        train(model, windows, recorder, num_epochs=3)
    assert caught.value.code == "TRAINING_NAN_LOSS"
    assert [c[0]["global_step"] for c in recorder.checkpoints] == [5]


def test_nan_loss_blocks_a_step_checkpoint(make_model: MakeModel, windows: TokenWindows) -> None:
    recorder = Recorder()
    model = Scripted(make_model(), fault="nan", at=3)
    with pytest.raises(ModelTrainerError) as caught:
        train(model, windows, recorder, checkpoint_every_steps=2)
    assert caught.value.code == "TRAINING_NAN_LOSS"
    assert [c[0]["global_step"] for c in recorder.checkpoints] == [2]


def test_nan_weights_with_a_finite_loss(make_model: MakeModel, windows: TokenWindows) -> None:
    recorder = Recorder()
    model = Scripted(make_model(), fault="nan_weights", at=5)
    with pytest.raises(ModelTrainerError) as caught:
        train(model, windows, recorder)
    assert caught.value.code == "TRAINING_NAN_LOSS"
    assert "weights" in caught.value.message
    assert recorder.checkpoints == []


def test_divergence(make_model: MakeModel, windows: TokenWindows) -> None:
    recorder = Recorder()
    model = Scripted(make_model(), fault="spike", at=4)
    with pytest.raises(ModelTrainerError) as caught:
        train(model, windows, recorder, progress_interval_s=0.0)
    assert caught.value.code == "TRAINING_DIVERGED"
    assert len(recorder.progress) == 3


def test_out_of_memory_becomes_training_oom(make_model: MakeModel, windows: TokenWindows) -> None:
    model = Scripted(make_model(), fault="oom", at=2)
    with pytest.raises(ModelTrainerError) as caught:
        train(model, windows, Recorder())
    assert caught.value.code == "TRAINING_OOM"
    assert "batch_size=8" in caught.value.message
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_other_runtime_errors_pass_through(make_model: MakeModel, windows: TokenWindows) -> None:
    model = Scripted(make_model(), fault="error", at=2)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        train(model, windows, Recorder())


def test_cancel_mid_epoch_checkpoints_the_position(
    make_model: MakeModel, windows: TokenWindows
) -> None:
    recorder = Recorder(cancel_after=6)
    history = train(make_model(), windows, recorder, grad_accum_steps=2, max_steps_per_epoch=8)
    assert [m["epoch"] for m in history] == [1]
    assert recorder.checks == 7
    (_, end_count), (position, count) = recorder.checkpoints
    assert end_count == 1
    assert count == 1
    assert position["epoch"] == 1
    assert position["step_in_epoch"] == 4
    assert position["global_step"] == 6
    assert position["tokens"] == 4 * 8 * 16
    assert position["loss_sum"] > 0
    assert position["elapsed_s"] > 0


def test_cancel_before_any_step_saves_nothing(make_model: MakeModel, windows: TokenWindows) -> None:
    recorder = Recorder(cancel_after=0)
    assert train(make_model(), windows, recorder) == []
    assert recorder.checkpoints == []


def test_cancel_at_an_epoch_start_saves_no_duplicate(
    make_model: MakeModel, windows: TokenWindows
) -> None:
    recorder = Recorder(cancel_after=5)
    history = train(make_model(), windows, recorder)
    assert len(history) == 1
    assert [c[0]["global_step"] for c in recorder.checkpoints] == [5]


def test_step_checkpoints_and_evaluations(
    make_model: MakeModel, windows: TokenWindows, val_windows: TokenWindows
) -> None:
    recorder = Recorder()
    train(
        make_model(),
        windows,
        recorder,
        val=val_windows,
        checkpoint_every_steps=2,
        eval_every_steps=2,
        max_steps_per_epoch=4,
    )
    steps = [
        (c[0]["epoch"], c[0]["step_in_epoch"], c[0]["global_step"]) for c in recorder.checkpoints
    ]
    assert steps == [(0, 2, 2), (1, 0, 4), (1, 2, 6), (2, 0, 8)]
    assert [e[0] for e in recorder.evals] == [2, 6]
    assert all(math.isfinite(e[1]) for e in recorder.evals)


class EvalProbe(nn.Module):
    """Wraps a model; records the inputs of each evaluation (a run of eval-mode calls)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.evaluations: list[list[Tensor]] = []
        self.was_training = True

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if not self.training:
            if self.was_training:
                self.evaluations.append([])
            self.evaluations[-1].append(input_ids.clone())
        self.was_training = self.training
        logits: Tensor = self.inner(input_ids)  # (B, T, V)
        return logits


def test_mid_epoch_evaluations_read_one_fixed_sample_and_epoch_ends_the_whole_split(
    make_model: MakeModel, windows: TokenWindows, val_windows: TokenWindows
) -> None:
    probe = EvalProbe(make_model())
    recorder = Recorder()
    train(
        probe,
        windows,
        recorder,
        val=val_windows,
        num_epochs=1,
        eval_every_steps=1,
        max_steps_per_epoch=3,
        eval_max_tokens=3 * 16,
    )
    assert [step for step, _ in recorder.evals] == [1, 2]
    first, second, end = (torch.cat(inputs) for inputs in probe.evaluations)
    chosen = sample_windows(val_windows, 3 * 16)
    assert (
        first.tolist()
        == second.tolist()
        == val_windows.ids[chosen[:, None] * 16 + torch.arange(16)].tolist()
    )
    whole = torch.cat([inputs for inputs, _ in val_windows.batches(0)])
    assert end.tolist() == whole.tolist()


def test_an_epoch_end_bounded_too(
    make_model: MakeModel, windows: TokenWindows, val_windows: TokenWindows
) -> None:
    probe = EvalProbe(make_model())
    train(
        probe,
        windows,
        Recorder(),
        val=val_windows,
        num_epochs=2,
        max_steps_per_epoch=1,
        epoch_eval_max_tokens=2 * 16,
    )
    ends = [torch.cat(inputs).tolist() for inputs in probe.evaluations]
    assert len(ends) == 2
    assert ends[0] == ends[1]
    assert len(ends[0]) == 2


@pytest.mark.parametrize(
    ("choice", "device", "steps", "costs", "chosen"),
    [
        (True, "cpu", 1, CPU_COMPILE, True),
        (False, "cuda", 10**9, CPU_COMPILE, False),
        ("auto", "cuda", 1, CPU_COMPILE, True),
        ("auto", "cuda:1", 1, CPU_COMPILE, True),
        ("auto", "cpu", 26_253, CPU_COMPILE, False),
        ("auto", "cpu", 26_254, CPU_COMPILE, True),
        ("auto", "mps", 1_000, CPU_COMPILE, False),
        ("auto", "cpu", 20, {"compile_s": 5.0, "step_s": 0.5, "saved_fraction": 0.5}, False),
        ("auto", "cpu", 21, {"compile_s": 5.0, "step_s": 0.5, "saved_fraction": 0.5}, True),
    ],
)
def test_compile_auto_pays_back_or_stays_eager(
    choice: Literal[True, False, "auto"], device: str, steps: int, costs: CompileCosts, chosen: bool
) -> None:
    assert compile_pays(choice, device, steps, costs) is chosen


def test_evaluations_need_validation_windows(make_model: MakeModel, windows: TokenWindows) -> None:
    recorder = Recorder()
    train(make_model(), windows, recorder, eval_every_steps=1)
    assert recorder.evals == []


def test_start_mid_epoch_trains_the_rest(make_model: MakeModel, windows: TokenWindows) -> None:
    recorder = Recorder()
    start: TrainPosition = {
        **start_position(),
        "epoch": 1,
        "step_in_epoch": 3,
        "global_step": 8,
        "loss_sum": 100.0,
        "tokens": 3 * 8 * 16,
        "elapsed_s": 1.0,
    }
    history = train(make_model(), windows, recorder, start=start)
    assert [(m["epoch"], m["global_step"]) for m in history] == [(2, 10)]
    assert history[0]["loss"] > 100.0 / (5 * 8 * 16)
    assert history[0]["elapsed_s"] > 1.0


def test_spec_shaped_callbacks_train_two_epochs(
    make_model: MakeModel, windows: TokenWindows, val_windows: TokenWindows
) -> None:
    seen: list[tuple[int, int, float]] = []
    beats: list[float] = []
    callbacks: TrainingCallbacks = {
        "heartbeat": beats.append,
        "cancelled": lambda: False,
        "progress": lambda step, epoch, loss: seen.append((step, epoch, loss)),
    }
    model = make_model()
    optimizer = make_optimizer(model.parameters(), lr=3e-3, weight_decay=0.0, device="cpu")
    epochs = BaseTrainer().train_epochs(
        model=model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, warmup_steps=1, total_steps=8),
        train=windows,
        val=val_windows,
        num_epochs=2,
        device="cpu",
        callbacks=callbacks,
        cfg=train_config(
            precision="fp32",
            grad_clip=0.0,
            eval_every_steps=2,
            max_steps_per_epoch=4,
            eval_max_tokens=0,
            epoch_eval_max_tokens=0,
        ),
        options={"progress_interval_s": 1e9},
    )
    history = list(epochs)
    assert [(m["epoch"], m["global_step"]) for m in history] == [(1, 4), (2, 8)]
    assert [(step, epoch) for step, epoch, _ in seen] == [(4, 0), (4, 1)]
    assert len(beats) == 2
    assert all(m["val_loss"] is not None for m in history)


class Reader:
    """A ``reading`` callback and a loss function that count what they see."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.loss_calls = 0

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        self.loss_calls += 1
        return functional.cross_entropy(logits.flatten(0, 1), targets.flatten()) * 2.0


def test_loss_fn_and_readings(make_model: MakeModel, windows: TokenWindows) -> None:
    reader = Reader()
    recorder = Recorder()
    callbacks: TrainingCallbacks = {**recorder.callbacks(), "reading": reader.readings.append}
    model = make_model()
    optimizer = make_optimizer(model.parameters(), lr=3e-3, weight_decay=0.0, device="cpu")
    scheduler = build_scheduler(optimizer, warmup_steps=2, total_steps=3)
    history = list(
        BaseTrainer().train_epochs(
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            train=windows,
            val=None,
            num_epochs=1,
            device="cpu",
            callbacks=callbacks,
            cfg=train_config(precision="fp32", grad_clip=1.0, max_steps_per_epoch=3),
            options={"progress_interval_s": 0.0},
            loss_fn=reader.loss,
        )
    )
    assert reader.loss_calls == 3
    assert [(r["step"], r["epoch"], r["tokens"]) for r in reader.readings] == [
        (1, 1, 8 * 16),
        (2, 1, 8 * 16),
        (3, 1, 8 * 16),
    ]
    assert [r["loss"] for r in reader.readings] == [p[2] for p in recorder.progress]
    assert reader.readings[-1]["learning_rate"] == pytest.approx(history[0]["learning_rate"])
    assert [r["learning_rate"] for r in reader.readings] == pytest.approx([3e-3, 3e-3, 3e-3 * 0.1])


@pytest.mark.parametrize("listens", [True, False])
def test_a_long_closing_validation_reports_each_percent_with_a_heartbeat(
    make_model: MakeModel, windows: TokenWindows, text: str, codec: Encoder, listens: bool
) -> None:
    ids = encode_corpus(text[:4001], codec)  # about 250 windows of 16, read 2 at a time
    val = TokenWindows(ids, seq_len=16, batch_size=1, seed=0, shuffle=False)
    recorder = Recorder(stages=listens)
    train(
        make_model(), windows, recorder, val=val, num_epochs=1, max_steps_per_epoch=1,
        eval_quiet_s=0.0,
    )  # fmt: skip
    total = val.num_windows
    reported: list[float] = []
    for done in range(2, total + 2, 2):  # the windows read after each batch
        share, percent = min(done, total) / total, min(done, total) * 100 // total
        if not reported or percent != int(reported[-1] * 100):
            reported.append(share)
    assert total > 200
    assert len(recorder.beats) - 1 == len(reported)  # and the epoch's last reading
    if recorder.stages is not None:
        assert recorder.stages == [(EVAL_STAGE, share) for share in reported]


def test_a_short_closing_validation_reports_nothing(
    make_model: MakeModel, windows: TokenWindows, val_windows: TokenWindows
) -> None:
    recorder = Recorder(stages=True)
    train(make_model(), windows, recorder, val=val_windows, num_epochs=1, max_steps_per_epoch=1)
    assert recorder.stages == []
    assert len(recorder.beats) == 1  # the epoch's last reading only

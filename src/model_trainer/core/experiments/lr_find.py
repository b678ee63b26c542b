"""The learning-rate finder: a short run whose learning rate grows exponentially.

A fresh model of the run's config (or its pretrained start, ``init_from``) trains for at
most ``num_steps`` updates (each the run's own step: precision, autocast, accumulation,
clipping, compile; ``step.py``) on the run's training split, from the same source, tokenizer and
token cache a run of the config reads, while the learning rate climbs from ``start_lr`` to
``end_lr``, each step a constant factor higher. Nothing is saved: no run folder, no
checkpoint. The training loss is smoothed (an exponential moving average with bias
correction); the ramp stops early when the smoothed loss explodes (above ``diverge_factor``
times its lowest) or a loss is not finite. The suggestion is the learning rate where the
smoothed loss falls fastest against ``log(lr)``, before its minimum.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Final, Literal, TypedDict

import torch

from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.backends.start import resolve_start
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.schema import TRAIN_DEFAULTS
from model_trainer.core.contracts.validators import (
    check_count,
    check_rate,
    validate_model_train_config,
)
from model_trainer.core.data.prepare import (
    RunSource,
    prepare_run_data,
    stage_events,
    start_tokenizer,
)
from model_trainer.core.errors import ConfigError, ModelTrainerError
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.events.trainer_metrics_events import make_progress_metrics_event
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory, new_job_id
from model_trainer.core.training.compile import compile_pays
from model_trainer.core.training.dataset import TokenWindows
from model_trainer.core.training.device import resolve_precision
from model_trainer.core.training.distributed import Forward
from model_trainer.core.training.loss import cross_entropy
from model_trainer.core.training.optimizer import make_optimizer
from model_trainer.core.training.step import backward, update

RULE: Final = "steepest fall of the smoothed loss against log(lr), before its minimum"
LrFindStop = Literal["num_steps", "diverged", "cancelled"]
LrFindVerdict = Literal["suggested", "no_fall", "too_few_steps"]
"""What a search found: a rate where the loss fell, a loss that never fell below its start,
or fewer than two finite losses to compare."""


class LrRamp(TypedDict):
    """The ramp of a learning-rate search."""

    start_lr: float
    end_lr: float
    num_steps: int
    smoothing: float
    diverge_factor: float


class LrFindResult(TypedDict):
    """A learning-rate search: each step's learning rate and loss, and the suggestion.

    ``suggested_lr`` is None unless ``verdict`` is ``suggested``; ``rule`` says how it was
    chosen and ``message`` what was found, in words.
    """

    learning_rates: list[float]
    losses: list[float]
    smoothed_losses: list[float]
    suggested_lr: float | None
    verdict: LrFindVerdict
    message: str
    rule: str
    stop: LrFindStop
    ramp: LrRamp


UNREAD: Final = (
    "num_epochs",
    "learning_rate",
    "warmup_steps",
    "eval_every_steps",
    "checkpoint_every_steps",
    "max_steps_per_epoch",
    "eval_max_tokens",
    "epoch_eval_max_tokens",
    "early_stopping_patience",
    "early_stopping_min_delta",
)
"""A run's fields a search does not read: the ramp sets its rates and length; it neither
validates nor checkpoints."""


def check_read(cfg: ModelTrainConfig) -> None:
    """Refuse a config that sets a field the search would ignore (one of ``UNREAD``).

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming each such field and its value.
    """
    fields: Mapping[str, object] = cfg
    defaults: Mapping[str, object] = TRAIN_DEFAULTS
    unread = [f"{name}={fields[name]!r}" for name in UNREAD if fields[name] != defaults[name]]
    if unread:
        raise ConfigError(
            "INVALID_CONFIG",
            f"lr_find does not read {', '.join(unread)}: the ramp sets its rates and length "
            "(start_lr, end_lr, num_steps) and it neither validates nor checkpoints; leave "
            "them out",
        )


def check_ramp(ramp: LrRamp) -> None:
    """Check a ramp: ``0 < start_lr < end_lr``, two steps or more, sane smoothing.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the field and the value.
    """
    start, end = ramp["start_lr"], ramp["end_lr"]
    check_rate("start_lr", start)
    check_rate("end_lr", end)
    if end <= start:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"end_lr must be above start_lr={start!r}, got {end!r}"
        )
    check_count("num_steps", ramp["num_steps"], 2)
    smoothing = ramp["smoothing"]
    if not 0.0 <= smoothing < 1.0:
        raise ModelTrainerError("INVALID_CONFIG", f"smoothing must be in [0, 1), got {smoothing!r}")
    check_rate("diverge_factor", ramp["diverge_factor"])
    if not ramp["diverge_factor"] > 1.0:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"diverge_factor must be > 1, got {ramp['diverge_factor']!r}"
        )


def ramp_lr(ramp: LrRamp, step: int) -> float:
    """The learning rate of step ``step`` (0-based): ``start_lr`` to ``end_lr``, geometric."""
    fraction = step / (ramp["num_steps"] - 1)
    return float(ramp["start_lr"] * (ramp["end_lr"] / ramp["start_lr"]) ** fraction)


def smooth(losses: Sequence[float], smoothing: float) -> list[float]:
    """The exponential moving average of ``losses``, bias-corrected (fastai's ``lr_find``)."""
    average = 0.0
    smoothed: list[float] = []
    for index, loss in enumerate(losses, start=1):
        average = smoothing * average + (1.0 - smoothing) * loss
        smoothed.append(average / (1.0 - smoothing**index))
    return smoothed


def suggest(learning_rates: Sequence[float], smoothed: Sequence[float]) -> float | None:
    """The learning rate where ``smoothed`` falls fastest against ``log(lr)`` before its low.

    None when fewer than two steps ran or the smoothed loss never fell below its first value.
    """
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__, default=0)
    if lowest == 0:
        return None
    slopes = [
        (smoothed[i + 1] - smoothed[i])
        / (math.log(learning_rates[i + 1]) - math.log(learning_rates[i]))
        for i in range(lowest)
    ]
    return learning_rates[min(range(len(slopes)), key=slopes.__getitem__)]


def verdict(
    learning_rates: Sequence[float], smoothed: Sequence[float], ramp: LrRamp
) -> tuple[LrFindVerdict, float | None, str]:
    """What a search found: its verdict, the suggested rate (or None) and a sentence."""
    suggested = suggest(learning_rates, smoothed)
    if suggested is not None:
        return "suggested", suggested, f"suggested learning rate {suggested:.3g} ({RULE})"
    if len(smoothed) < 2:
        return (
            "too_few_steps",
            None,
            f"no suggestion: {len(smoothed)} step(s) gave a finite loss, and a slope needs two; "
            f"start the ramp lower (start_lr={ramp['start_lr']!r}) or let it run longer",
        )
    return (
        "no_fall",
        None,
        f"no suggestion: the smoothed loss never fell below its first value "
        f"({smoothed[0]:.4g} at {learning_rates[0]:.3g}) over {len(smoothed)} steps up to "
        f"{learning_rates[-1]:.3g}; start the ramp lower (start_lr={ramp['start_lr']!r}), or "
        f"check that the model and data can learn",
    )


class LrFindWork:
    """The body of a learning-rate search, run on its job's thread."""

    def __init__(
        self,
        cfg: ModelTrainConfig,
        ramp: LrRamp,
        settings: Settings,
        registry: ModelRegistry,
        source: RunSource,
    ) -> None:
        self.cfg = cfg
        self.ramp = ramp
        self.settings = settings
        self.registry = registry
        self.source = source

    def __call__(self, control: JobControl) -> LrFindResult:
        """Ramp the learning rate up on a fresh model; return what each step measured."""
        cfg, ramp = self.cfg, self.ramp
        torch.manual_seed(cfg["seed"])
        stage = stage_events(control.emit, job_id=control.job_id, user_id=control.user_id)
        tokenizer = start_tokenizer(cfg, self.source, stage)
        prepared = self.registry.get(cfg["model_family"]).prepare(
            cfg, self.settings, tokenizer=tokenizer
        )
        ids = prepare_run_data(self.source, prepared["tokenizer"], stage)["data"]["train_ids"]
        windows = TokenWindows(
            ids,
            seq_len=cfg["max_seq_len"],
            batch_size=cfg["batch_size"],
            seed=cfg["seed"],
            shuffle=True,
            name="the training split",
        )
        device = prepared["device"]
        model = prepared["model"].to(device)
        model.train()
        params = list(model.parameters())
        optimizer = make_optimizer(
            params, lr=ramp["start_lr"], weight_decay=cfg["weight_decay"], device=device
        )
        # The run's step: its precision, autocast, accumulation, clipping and compile.
        precision = resolve_precision(cfg["precision"], device)
        accum = cfg["grad_accum_steps"]
        compiled = compile_pays(cfg["compile"], device, ramp["num_steps"])
        forward: Forward = torch.compile(model) if compiled else model
        groups = self._groups(windows, accum)
        lrs: list[float] = []
        losses: list[float] = []
        smoothed: list[float] = []
        stop: LrFindStop = "num_steps"
        started = time.perf_counter()
        for step in range(ramp["num_steps"]):
            if control.cancelled():
                stop = "cancelled"
                break
            lr = ramp_lr(ramp, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = torch.stack(
                [
                    backward(
                        forward,
                        cross_entropy,
                        inputs.to(device),
                        targets.to(device),
                        device=device,
                        precision=precision,
                        group=accum,
                    )
                    for inputs, targets in next(groups)
                ]
            ).mean()
            update(params, optimizer, None, cfg["grad_clip"])
            value = loss.item()
            if not math.isfinite(value):
                stop = "diverged"
                break
            lrs.append(lr)
            losses.append(value)
            smoothed = smooth(losses, ramp["smoothing"])
            control.emit(
                make_progress_metrics_event(
                    job_id=control.job_id,
                    user_id=control.user_id,
                    epoch=1,
                    total_epochs=1,
                    step=step + 1,
                    steps_per_epoch=ramp["num_steps"],
                    loss=value,
                    tokens_per_second=0.0,
                    learning_rate=lr,
                    elapsed_s=time.perf_counter() - started,
                )
            )
            if smoothed[-1] > ramp["diverge_factor"] * min(smoothed):
                stop = "diverged"
                break
        found, suggested, message = verdict(lrs, smoothed, ramp)
        return {
            "learning_rates": lrs,
            "losses": losses,
            "smoothed_losses": smoothed,
            "suggested_lr": suggested,
            "verdict": found,
            "message": message,
            "rule": RULE,
            "stop": stop,
            "ramp": ramp,
        }

    @staticmethod
    def _groups(
        windows: TokenWindows, accum: int
    ) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """Each step's ``accum`` batches, epoch after epoch, made as the steps need them."""
        batches = itertools.chain.from_iterable(
            windows.batches(epoch) for epoch in itertools.count()
        )
        while True:
            yield list(itertools.islice(batches, accum))


def start_lr_find(
    cfg: ModelTrainConfig,
    ramp: LrRamp,
    settings: Settings,
    *,
    registry: ModelRegistry,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
) -> JobHandle[LrFindResult]:
    """Start a learning-rate search of ``cfg`` along ``ramp`` on a thread; returns at once.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a bad config field (or one that conflicts
            with ``init_from``) or ramp setting, ``MODEL_NOT_FOUND`` for an unregistered
            family, the corpus's errors (``CORPUS_NOT_FOUND``, ``CORPUS_EMPTY``, ...).
    """
    cfg = resolve_start(cfg, registry)
    validate_model_train_config(cfg, registry.require(cfg["model_family"], "supports_train"))
    check_read(cfg)
    check_ramp(ramp)
    source = RunSource(cfg, settings)
    source.parts()

    def cancel_message(result: LrFindResult) -> str | None:
        if result["stop"] != "cancelled":
            return None
        return f"the learning-rate search was stopped after {len(result['losses'])} steps"

    handle: JobHandle[LrFindResult] = JobHandle(
        kind="lr_find",
        job_id=new_job_id("lr_find"),
        run_id="",
        run_dir="",
        work=LrFindWork(cfg, ramp, settings, registry, source),
        sinks=sinks,
        view=view,
        cancel_message=cancel_message,
    )
    return handle.start()

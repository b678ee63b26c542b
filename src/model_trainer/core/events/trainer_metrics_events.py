"""Training metrics events: config, progress, epochs, evaluations, samples, probes, the end.

Samples and probes tell what the model writes, and how surprised it is by a fixed passage,
as it learns.

Each event is a TypedDict with a ``Literal`` ``type`` and a keyword-only factory. Every event
carries ``job_id``, ``user_id`` and ``ts`` (unix time in seconds, ``time.time()`` by default).
Losses are in nats per ``loss_unit`` (a token or a character). Of the spec's three types
(config, progress, completed), the spec's fields are required and those this project adds are
written by every factory and read as optional, so a payload of the spec's shape decodes too.
The guards check the whole shape, field by field.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Final, Literal, NotRequired, TypedDict, TypeGuard

from model_trainer.core.contracts.model import LossUnit, TrainStop
from model_trainer.core.events.shapes import Shape, decode, encode, misfit, shapes_of

TrainerMetricsEventType = Literal[
    "trainer.metrics.config.v1",
    "trainer.metrics.progress.v1",
    "trainer.metrics.epoch.v1",
    "trainer.metrics.eval.v1",
    "trainer.metrics.completed.v1",
    "trainer.metrics.sample.v1",
    "trainer.metrics.probe.v1",
]
SampleAt = Literal["step", "epoch_end"]
"""Where in training a sample was drawn: every ``sample_every_steps`` updates, or an epoch's end."""


class TrainerConfigV1(TypedDict):
    """The model, schedule and resources of a run, published once at its start."""

    type: Literal["trainer.metrics.config.v1"]
    job_id: str
    user_id: int
    model_family: str
    model_size: str
    total_epochs: int
    queue: str
    ts: NotRequired[float]
    cpu_cores: NotRequired[int]
    memory_mb: NotRequired[int]
    optimal_threads: NotRequired[int]
    optimal_workers: NotRequired[int]
    batch_size: NotRequired[int]
    steps_per_epoch: NotRequired[int]
    max_seq_len: NotRequired[int]
    vocab_size: NotRequired[int]
    learning_rate: NotRequired[float]
    chars_per_token: NotRequired[float]
    device: NotRequired[str]
    precision: NotRequired[str]
    tokenizer_kind: NotRequired[str]
    loss_unit: NotRequired[LossUnit]


class TrainerProgressMetricsV1(TypedDict):
    """The training loss at one global ``step``, with throughput and learning rate.

    ``elapsed_s`` is the wall-clock time since this job started.
    """

    type: Literal["trainer.metrics.progress.v1"]
    job_id: str
    user_id: int
    epoch: int
    total_epochs: int
    step: int
    loss: float
    ts: NotRequired[float]
    steps_per_epoch: NotRequired[int]
    tokens_per_second: NotRequired[float]
    learning_rate: NotRequired[float]
    elapsed_s: NotRequired[float]


class TrainerEpochMetricsV1(TypedDict):
    """The figures at the end of one epoch; validation ones are None without a split.

    ``elapsed_s`` is the epoch's own training time, validation and checkpoints left out.
    """

    type: Literal["trainer.metrics.epoch.v1"]
    job_id: str
    user_id: int
    ts: float
    epoch: int
    total_epochs: int
    global_step: int
    elapsed_s: float
    train_loss: float
    train_perplexity: float
    val_loss: float | None
    val_perplexity: float | None
    tokens_per_second: float
    learning_rate: float
    loss_unit: LossUnit


class TrainerEvalMetricsV1(TypedDict):
    """A validation run in the middle of training, at ``global_step``."""

    type: Literal["trainer.metrics.eval.v1"]
    job_id: str
    user_id: int
    ts: float
    epoch: int
    global_step: int
    val_loss: float
    val_perplexity: float
    loss_unit: LossUnit


class TrainerCompletedMetricsV1(TypedDict):
    """The final figures of a run and where its model artifact lies."""

    type: Literal["trainer.metrics.completed.v1"]
    job_id: str
    user_id: int
    loss: float
    perplexity: float
    artifact_path: str
    ts: NotRequired[float]
    val_loss: NotRequired[float]
    val_perplexity: NotRequired[float]
    stop_reason: NotRequired[TrainStop]


class TrainerSampleV1(TypedDict):
    """A continuation of the run's fixed ``prompt`` and seed, drawn with the training weights.

    ``epoch`` is the 1-based epoch it was drawn in (at its end with ``at="epoch_end"``),
    ``step`` the global step; ``text`` is the continuation alone, without the prompt.
    """

    type: Literal["trainer.metrics.sample.v1"]
    job_id: str
    user_id: int
    ts: float
    epoch: int
    step: int
    at: SampleAt
    prompt: str
    text: str


class TrainerProbeV1(TypedDict):
    """The run's probe passage scored at an epoch's end: each character's surprisal.

    ``surprisal_bits`` holds one figure per character of ``text`` (bits, rounded to
    ``PROBE_DECIMALS`` places); ``bits_per_char`` is their exact mean.
    """

    type: Literal["trainer.metrics.probe.v1"]
    job_id: str
    user_id: int
    ts: float
    epoch: int
    step: int
    text: str
    surprisal_bits: list[float]
    bits_per_char: float


TrainerMetricsEventV1 = (
    TrainerConfigV1
    | TrainerProgressMetricsV1
    | TrainerEpochMetricsV1
    | TrainerEvalMetricsV1
    | TrainerCompletedMetricsV1
    | TrainerSampleV1
    | TrainerProbeV1
)

PROBE_DECIMALS: Final = 2
"""Decimal places a probe event keeps of each character's surprisal (bits)."""

METRICS_SHAPES: Final[dict[str, Shape]] = shapes_of(
    (
        TrainerConfigV1,
        TrainerProgressMetricsV1,
        TrainerEpochMetricsV1,
        TrainerEvalMetricsV1,
        TrainerCompletedMetricsV1,
        TrainerSampleV1,
        TrainerProbeV1,
    )
)


def make_config_event(
    *,
    job_id: str,
    user_id: int,
    model_family: str,
    model_size: str,
    total_epochs: int,
    queue: str = "local",
    ts: float | None = None,
    cpu_cores: int | None = None,
    memory_mb: int | None = None,
    optimal_threads: int | None = None,
    optimal_workers: int | None = None,
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    max_seq_len: int | None = None,
    vocab_size: int | None = None,
    learning_rate: float | None = None,
    chars_per_token: float | None = None,
    device: str | None = None,
    precision: str | None = None,
    tokenizer_kind: str | None = None,
    loss_unit: LossUnit | None = None,
) -> TrainerConfigV1:
    """Build a ``trainer.metrics.config.v1`` event; optional fields left None are omitted."""
    event: TrainerConfigV1 = {
        "type": "trainer.metrics.config.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "model_family": model_family,
        "model_size": model_size,
        "total_epochs": total_epochs,
        "queue": queue,
    }
    if cpu_cores is not None:
        event["cpu_cores"] = cpu_cores
    if memory_mb is not None:
        event["memory_mb"] = memory_mb
    if optimal_threads is not None:
        event["optimal_threads"] = optimal_threads
    if optimal_workers is not None:
        event["optimal_workers"] = optimal_workers
    if batch_size is not None:
        event["batch_size"] = batch_size
    if steps_per_epoch is not None:
        event["steps_per_epoch"] = steps_per_epoch
    if max_seq_len is not None:
        event["max_seq_len"] = max_seq_len
    if vocab_size is not None:
        event["vocab_size"] = vocab_size
    if learning_rate is not None:
        event["learning_rate"] = learning_rate
    if chars_per_token is not None:
        event["chars_per_token"] = chars_per_token
    if device is not None:
        event["device"] = device
    if precision is not None:
        event["precision"] = precision
    if tokenizer_kind is not None:
        event["tokenizer_kind"] = tokenizer_kind
    if loss_unit is not None:
        event["loss_unit"] = loss_unit
    return event


def make_progress_metrics_event(
    *,
    job_id: str,
    user_id: int,
    epoch: int,
    total_epochs: int,
    step: int,
    steps_per_epoch: int,
    loss: float,
    tokens_per_second: float,
    learning_rate: float,
    elapsed_s: float,
    ts: float | None = None,
) -> TrainerProgressMetricsV1:
    """Build a ``trainer.metrics.progress.v1`` event; ``step`` is the global step."""
    return {
        "type": "trainer.metrics.progress.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "epoch": epoch,
        "total_epochs": total_epochs,
        "step": step,
        "steps_per_epoch": steps_per_epoch,
        "loss": loss,
        "tokens_per_second": tokens_per_second,
        "learning_rate": learning_rate,
        "elapsed_s": elapsed_s,
    }


def make_epoch_event(
    *,
    job_id: str,
    user_id: int,
    epoch: int,
    total_epochs: int,
    global_step: int,
    elapsed_s: float,
    train_loss: float,
    train_perplexity: float,
    val_loss: float | None,
    val_perplexity: float | None,
    tokens_per_second: float,
    learning_rate: float,
    loss_unit: LossUnit,
    ts: float | None = None,
) -> TrainerEpochMetricsV1:
    """Build a ``trainer.metrics.epoch.v1`` event; the val figures are None without a split."""
    return {
        "type": "trainer.metrics.epoch.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "epoch": epoch,
        "total_epochs": total_epochs,
        "global_step": global_step,
        "elapsed_s": elapsed_s,
        "train_loss": train_loss,
        "train_perplexity": train_perplexity,
        "val_loss": val_loss,
        "val_perplexity": val_perplexity,
        "tokens_per_second": tokens_per_second,
        "learning_rate": learning_rate,
        "loss_unit": loss_unit,
    }


def make_eval_event(
    *,
    job_id: str,
    user_id: int,
    epoch: int,
    global_step: int,
    val_loss: float,
    val_perplexity: float,
    loss_unit: LossUnit,
    ts: float | None = None,
) -> TrainerEvalMetricsV1:
    """Build a ``trainer.metrics.eval.v1`` event."""
    return {
        "type": "trainer.metrics.eval.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "epoch": epoch,
        "global_step": global_step,
        "val_loss": val_loss,
        "val_perplexity": val_perplexity,
        "loss_unit": loss_unit,
    }


def make_completed_metrics_event(
    *,
    job_id: str,
    user_id: int,
    loss: float,
    perplexity: float,
    artifact_path: str,
    val_loss: float | None = None,
    val_perplexity: float | None = None,
    ts: float | None = None,
    stop_reason: TrainStop | None = None,
) -> TrainerCompletedMetricsV1:
    """Build a ``trainer.metrics.completed.v1`` event; figures left None are omitted."""
    event: TrainerCompletedMetricsV1 = {
        "type": "trainer.metrics.completed.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "loss": loss,
        "perplexity": perplexity,
        "artifact_path": artifact_path,
    }
    if val_loss is not None:
        event["val_loss"] = val_loss
    if val_perplexity is not None:
        event["val_perplexity"] = val_perplexity
    if stop_reason is not None:
        event["stop_reason"] = stop_reason
    return event


def make_sample_event(
    *,
    job_id: str,
    user_id: int,
    epoch: int,
    step: int,
    at: SampleAt,
    prompt: str,
    text: str,
    ts: float | None = None,
) -> TrainerSampleV1:
    """Build a ``trainer.metrics.sample.v1`` event; ``text`` is the continuation alone."""
    return {
        "type": "trainer.metrics.sample.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "epoch": epoch,
        "step": step,
        "at": at,
        "prompt": prompt,
        "text": text,
    }


def make_probe_event(
    *,
    job_id: str,
    user_id: int,
    epoch: int,
    step: int,
    text: str,
    surprisal_bits: Sequence[float],
    ts: float | None = None,
) -> TrainerProbeV1:
    """Build a ``trainer.metrics.probe.v1`` event from each character's surprisal (bits).

    The figures are kept to ``PROBE_DECIMALS`` places; their mean is kept exact.
    """
    return {
        "type": "trainer.metrics.probe.v1",
        "job_id": job_id,
        "user_id": user_id,
        "ts": time.time() if ts is None else ts,
        "epoch": epoch,
        "step": step,
        "text": text,
        "surprisal_bits": [round(bits, PROBE_DECIMALS) for bits in surprisal_bits],
        "bits_per_char": sum(surprisal_bits) / max(len(surprisal_bits), 1),
    }


def encode_trainer_metrics_event(event: TrainerMetricsEventV1) -> str:
    """One JSON line (sorted keys, no newline) for a metrics event.

    Raises:
        EventEncodeError: the event would not decode; the message names the field and value.
    """
    return encode(event, METRICS_SHAPES)


def decode_trainer_metrics_event(payload: str) -> TrainerMetricsEventV1:
    """The metrics event one JSON payload holds, checked field by field against its type.

    Raises:
        EventDecodeError: not a metrics event of a known type and shape (a job event
            included); the message names the field and the value.
    """
    return decode(payload, METRICS_SHAPES, _is_metrics_event)


def _is_metrics_event(event: Mapping[str, object]) -> TypeGuard[TrainerMetricsEventV1]:
    return misfit(event, METRICS_SHAPES, wire=True) is None


def is_config(event: Mapping[str, object]) -> TypeGuard[TrainerConfigV1]:
    """Whether an event has the shape of ``trainer.metrics.config.v1``, field by field."""
    return _fits(event, "trainer.metrics.config.v1")


def is_progress_metrics(event: Mapping[str, object]) -> TypeGuard[TrainerProgressMetricsV1]:
    """Whether an event has the shape of ``trainer.metrics.progress.v1``, field by field."""
    return _fits(event, "trainer.metrics.progress.v1")


def is_epoch(event: Mapping[str, object]) -> TypeGuard[TrainerEpochMetricsV1]:
    """Whether an event has the shape of ``trainer.metrics.epoch.v1``, field by field."""
    return _fits(event, "trainer.metrics.epoch.v1")


def is_eval(event: Mapping[str, object]) -> TypeGuard[TrainerEvalMetricsV1]:
    """Whether an event has the shape of ``trainer.metrics.eval.v1``, field by field."""
    return _fits(event, "trainer.metrics.eval.v1")


def is_completed_metrics(event: Mapping[str, object]) -> TypeGuard[TrainerCompletedMetricsV1]:
    """Whether an event has the shape of ``trainer.metrics.completed.v1``, field by field."""
    return _fits(event, "trainer.metrics.completed.v1")


def is_sample(event: Mapping[str, object]) -> TypeGuard[TrainerSampleV1]:
    """Whether an event has the shape of ``trainer.metrics.sample.v1``, field by field."""
    return _fits(event, "trainer.metrics.sample.v1")


def is_probe(event: Mapping[str, object]) -> TypeGuard[TrainerProbeV1]:
    """Whether an event has the shape of ``trainer.metrics.probe.v1``, field by field."""
    return _fits(event, "trainer.metrics.probe.v1")


def _fits(event: Mapping[str, object], type_name: TrainerMetricsEventType) -> bool:
    return event.get("type") == type_name and misfit(event, METRICS_SHAPES, wire=False) is None

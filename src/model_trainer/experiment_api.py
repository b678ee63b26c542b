"""The notebook's experiment functions: a learning-rate finder, sweeps, and DataFrames.

Like ``model_trainer.api``, every function here is exported by ``model_trainer`` and imported
on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from secrets import token_hex

from model_trainer.api import keyword_config, runs_settings, view_factory
from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.contracts.defaults import train_config_from_mapping
from model_trainer.core.contracts.model import (
    CompileChoice,
    DeviceName,
    Precision,
    ScoreOutcome,
    TrainOutcome,
)
from model_trainer.core.contracts.schema import TRAIN_DEFAULTS
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.experiments.lr_find import LrFindResult, LrRamp, start_lr_find
from model_trainer.core.experiments.sweep import resume_sweep as resume_stored_sweep
from model_trainer.core.experiments.sweep import start_sweep
from model_trainer.core.experiments.sweep_record import SweepResult
from model_trainer.core.jobs.run_store import (
    existing_run_dir,
)
from model_trainer.core.jobs.run_store import list_runs as stored_runs
from model_trainer.core.jobs.runner import JobHandle, ViewFactory
from model_trainer.notebook.frames import Frame, history_frame_of, runs_frame_of, score_frame_of
from model_trainer.notebook.frontend import in_notebook
from model_trainer.notebook.lr_view import LrFindView
from model_trainer.notebook.sweep_view import make_sweep_view
from model_trainer.notebook.units import DisplayUnit

TrainJob = JobHandle[TrainOutcome]


def lr_find(
    *,
    model_family: str = TRAIN_DEFAULTS["model_family"],
    model_size: str = TRAIN_DEFAULTS["model_size"],
    corpus_path: str = TRAIN_DEFAULTS["corpus_path"],
    tokenizer_kind: TokenizerKind = TRAIN_DEFAULTS["tokenizer_kind"],
    vocab_size: int = TRAIN_DEFAULTS["vocab_size"],
    max_seq_len: int = TRAIN_DEFAULTS["max_seq_len"],
    num_epochs: int = TRAIN_DEFAULTS["num_epochs"],
    batch_size: int = TRAIN_DEFAULTS["batch_size"],
    learning_rate: float = TRAIN_DEFAULTS["learning_rate"],
    weight_decay: float = TRAIN_DEFAULTS["weight_decay"],
    warmup_steps: int = TRAIN_DEFAULTS["warmup_steps"],
    grad_clip: float = TRAIN_DEFAULTS["grad_clip"],
    grad_accum_steps: int = TRAIN_DEFAULTS["grad_accum_steps"],
    val_fraction: float = TRAIN_DEFAULTS["val_fraction"],
    eval_every_steps: int = TRAIN_DEFAULTS["eval_every_steps"],
    checkpoint_every_steps: int = TRAIN_DEFAULTS["checkpoint_every_steps"],
    max_steps_per_epoch: int = TRAIN_DEFAULTS["max_steps_per_epoch"],
    seed: int = TRAIN_DEFAULTS["seed"],
    watch_learning: bool = TRAIN_DEFAULTS["watch_learning"],
    sample_every_steps: int = TRAIN_DEFAULTS["sample_every_steps"],
    probe_text: str = TRAIN_DEFAULTS["probe_text"],
    device: DeviceName = TRAIN_DEFAULTS["device"],
    precision: Precision = TRAIN_DEFAULTS["precision"],
    compile: CompileChoice = TRAIN_DEFAULTS["compile"],
    eval_max_tokens: int = TRAIN_DEFAULTS["eval_max_tokens"],
    epoch_eval_max_tokens: int = TRAIN_DEFAULTS["epoch_eval_max_tokens"],
    early_stopping_patience: int = TRAIN_DEFAULTS["early_stopping_patience"],
    early_stopping_min_delta: float = TRAIN_DEFAULTS["early_stopping_min_delta"],
    text_field: str = TRAIN_DEFAULTS["text_field"],
    glob: str = TRAIN_DEFAULTS["glob"],
    val_path: str | None = TRAIN_DEFAULTS["val_path"],
    dataset_split: str = TRAIN_DEFAULTS["dataset_split"],
    val_split: str = TRAIN_DEFAULTS["val_split"],
    init_from: str = TRAIN_DEFAULTS["init_from"],
    gradient_checkpointing: bool = TRAIN_DEFAULTS["gradient_checkpointing"],
    lora_rank: int = TRAIN_DEFAULTS["lora_rank"],
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    num_steps: int = 60,
    smoothing: float = 0.9,
    diverge_factor: float = 4.0,
    runs_dir: str | None = None,
    show: bool = True,
    unit: DisplayUnit = "nats_per_token",
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
) -> JobHandle[LrFindResult]:
    """Search a learning rate for a run of this config; returns the job's handle at once.

    The keywords up to ``lora_rank`` are ``train``'s. A fresh model trains
    for at most ``num_steps`` updates while the learning rate grows geometrically from
    ``start_lr`` to ``end_lr``, stopping early when the loss explodes (``diverge_factor``
    times its lowest); nothing is saved. ``job.result()`` is an ``LrFindResult`` (rates,
    losses, smoothed losses, ``suggested_lr`` and the ``rule`` that chose it);
    ``show_lr_find`` draws it. With ``show`` the steps go to the live panel, whose Stop ends
    the search.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a bad field or ramp (``start_lr`` not
            above 0, ``end_lr`` not above ``start_lr``, ``num_steps`` under 2),
            ``MODEL_NOT_FOUND`` for an unregistered family.
    """
    cfg = keyword_config(locals())
    ramp: LrRamp = {
        "start_lr": start_lr,
        "end_lr": end_lr,
        "num_steps": num_steps,
        "smoothing": smoothing,
        "diverge_factor": diverge_factor,
    }
    return start_lr_find(
        cfg,
        ramp,
        runs_settings(runs_dir),
        registry=registry,
        sinks=sinks,
        view=view_factory(show, unit),
    )


def show_lr_find(result: LrFindResult) -> LrFindView:
    """The learning-rate finder's curve of ``result``, the suggested rate marked."""
    return LrFindView(result)


def _sweep_view(show: bool, sweep_id: str) -> ViewFactory | None:
    """With ``show``, the sweep's live panel (or its console lines)."""
    if not show:
        return None
    notebook = in_notebook()
    return lambda stop: make_sweep_view(stop, sweep_id, notebook=notebook)


def sweep(
    base_config: Mapping[str, object],
    space: Mapping[str, object],
    *,
    sampler: str = "grid",
    num_trials: int | None = None,
    seed: int = 0,
    sweep_id: str | None = None,
    devices: Sequence[str] | None = None,
    runs_dir: str | None = None,
    show: bool = True,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
) -> JobHandle[SweepResult]:
    """Train one run per trial of ``space`` around ``base_config``; returns a handle at once.

    ``base_config`` holds ``ModelTrainConfig`` fields (the rest take ``train``'s defaults);
    ``space`` maps config fields to lists of values. ``sampler`` is ``grid`` (every
    combination, at most ``num_trials``), ``random`` or ``optuna`` (TPE, pruning a trial
    whose validation falls behind; the ``optuna`` extra), both with ``num_trials``. Every
    trial is an ordinary run ``<sweep_id>-t<NN>``. Trials run in slots, one trial a slot at
    once, on the slot's device: ``devices`` None gives one slot a GPU (``cuda:0``,
    ``cuda:1``, ...) on a machine with several and a base device of ``auto`` or ``cuda``,
    else one slot on the base device (one trial at a time); a list names each slot's device
    (``["cuda:0", "cuda:2"]``, ``["cpu", "cpu"]``). Trials that may compile (``compile``
    True or ``auto``) take one slot. With ``show`` one live view shows every trial's
    validation curve in bits per character, a table sorted by the best value with the
    running trials marked, and a Stop button, which ends every running trial with a
    checkpoint and the sweep after them (``resume_sweep`` continues it).
    ``job.result()`` is a ``SweepResult``: each trial's values, config, outcome and value,
    and ``best_run_id``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the field and the value for a bad
            base config or space (empty, a name that is not a config field, a value of the
            wrong type or against its rule), sampler, trial count or ``devices``, or a taken
            sweep id; ``CUDA_NOT_AVAILABLE`` for a slot's device the machine lacks; a sweep
            whose every trial failed raises (from ``result()``) with the first trial's code
            and each trial's error.
    """
    settings = runs_settings(runs_dir)
    name = sweep_id or f"sweep-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{token_hex(2)}"
    return start_sweep(
        train_config_from_mapping(dict(base_config), where="base_config"),
        space,
        settings,
        sampler=sampler,
        num_trials=num_trials,
        seed=seed,
        sweep_id=name,
        registry=registry,
        devices=devices,
        sinks=sinks,
        view=_sweep_view(show, name),
    )


def resume_sweep(
    sweep_id: str,
    *,
    devices: Sequence[str] | None = None,
    runs_dir: str | None = None,
    show: bool = True,
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
) -> JobHandle[SweepResult]:
    """Continue a stopped sweep: its finished trials are kept, the stopped ones resume.

    Its slots are picked again for this machine, ``devices`` as for ``sweep``; a stopped
    trial continues from its checkpoint on the device of the slot it gets.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such sweep), ``MODEL_LOAD_FAILED`` (a
            damaged ``sweep.json``), ``INVALID_CONFIG`` (bad ``devices``),
            ``CUDA_NOT_AVAILABLE`` (a slot's device the machine lacks).
    """
    return resume_stored_sweep(
        sweep_id,
        runs_settings(runs_dir),
        registry=registry,
        devices=devices,
        sinks=sinks,
        view=_sweep_view(show, sweep_id),
    )


def runs_frame(*, runs_dir: str | None = None) -> Frame:
    """A pandas DataFrame with a row per run (``list_runs``); needs the ``pandas`` extra."""
    return runs_frame_of(stored_runs(runs_settings(runs_dir)))


def history_frame(run: str | TrainJob, *, runs_dir: str | None = None) -> Frame:
    """A pandas DataFrame with a row per finished epoch of ``run`` (an id or a job's handle).

    Its columns are the epoch's metrics (losses in nats per the run's unit) and
    ``val_bits_per_char``; needs the ``pandas`` extra.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run), ``INVALID_CONFIG`` (a bad id).
    """
    run_id = run if isinstance(run, str) else run.run_id
    return history_frame_of(existing_run_dir(runs_settings(runs_dir), run_id))


def score_frame(outcome: ScoreOutcome) -> Frame:
    """A pandas DataFrame with a row per character of ``outcome`` (``detail_level="per_char"``).

    Columns: ``char``, ``surprisal_bits``, ``token_index``, ``rank``, ``top_k``; needs the
    ``pandas`` extra.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for an outcome without per-character scores.
    """
    return score_frame_of(outcome)

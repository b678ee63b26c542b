"""A sweep's record and what its trials' runs say.

``<runs_dir>/<sweep_id>/sweep.json`` holds the base config, the space and every trial decided
so far with its state, rewritten atomically at each change (``write_record``). A trial's
value is its run's lowest validation loss in bits per character (``sweep_value``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final, Literal, TypedDict

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, TrainOutcome
from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.trainer_metrics_events import is_config
from model_trainer.core.jobs.job_store import write_json_atomic
from model_trainer.core.jobs.run_store import EVENTS_FILE, validate_run_id
from model_trainer.core.training.checkpoint import load_history
from model_trainer.core.training.early_stop import early_stopping, watched_loss
from model_trainer.core.training.outcome import train_outcome

SWEEP_FILE: Final = "sweep.json"
SamplerName = Literal["grid", "random", "optuna"]
SAMPLERS: Final[tuple[SamplerName, ...]] = ("grid", "random", "optuna")
SpaceValue = str | int | float | bool
TrialState = Literal["running", "completed", "pruned", "stopped", "failed"]
ENDED: Final[tuple[TrialState, ...]] = ("completed", "pruned", "failed")


class TrialRecord(TypedDict):
    """One trial of a sweep: its run, its values, how it stands, its value."""

    index: int
    run_id: str
    params: dict[str, SpaceValue]
    state: TrialState
    value: float | None
    error_code: ModelTrainerErrorCode | None
    error_message: str | None


class SweepRecord(TypedDict):
    """A sweep's ``sweep.json``."""

    sweep_id: str
    sampler: SamplerName
    base: ModelTrainConfig
    space: dict[str, list[SpaceValue]]
    num_trials: int
    seed: int
    trials: list[TrialRecord]


class SweepTrial(TrialRecord):
    """A trial as a sweep's result gives it: its record, its config and its outcome."""

    config: ModelTrainConfig
    outcome: TrainOutcome | None


class SweepResult(TypedDict):
    """A sweep's trials, and the run with the lowest value (bits per character)."""

    sweep_id: str
    trials: list[SweepTrial]
    best_run_id: str | None
    best_value: float | None
    stopped: bool


def sweep_value(folder: Path) -> float | None:
    """A trial run's lowest validation loss (training loss without a split) in bits per char."""
    history = load_history(str(folder))
    configs = [event for event in read_events(folder / EVENTS_FILE) if is_config(event)]
    if not history or not configs:
        return None
    config = configs[-1]
    unit = config.get("loss_unit", "token")
    chars = config.get("chars_per_token", 1.0)
    return min(bits_per_char(watched_loss(m), unit, chars) for m in history)


def stored_outcome(folder: Path, cfg: ModelTrainConfig) -> TrainOutcome | None:
    """A trial run's ``TrainOutcome`` as its last checkpoint says, None before one."""
    history = load_history(str(folder))
    if not history:
        return None
    configs = [event for event in read_events(folder / EVENTS_FILE) if is_config(event)]
    return train_outcome(
        history=history,
        steps=history[-1]["global_step"],
        loss_unit=configs[-1].get("loss_unit", "token"),
        out_dir=str(folder),
        num_epochs=cfg["num_epochs"],
        stopping=early_stopping(cfg),
    )


def sweep_folder(settings: Settings, sweep_id: str) -> Path:
    """The folder of a sweep's record."""
    return Path(settings["runs_dir"]) / validate_run_id(sweep_id)


def write_record(settings: Settings, record: SweepRecord) -> None:
    """Write a sweep's ``sweep.json`` atomically."""
    folder = sweep_folder(settings, record["sweep_id"])
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / SWEEP_FILE, json.dumps(record, indent=1) + "\n")


def read_record(settings: Settings, sweep_id: str) -> SweepRecord:
    """Read a sweep's ``sweep.json``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when there is no such sweep,
            ``MODEL_LOAD_FAILED`` when its record is damaged.
    """
    path = sweep_folder(settings, sweep_id) / SWEEP_FILE
    if not path.is_file():
        raise ModelTrainerError(
            "MODEL_NOT_FOUND", f"sweep_id {sweep_id!r}: no sweep in {settings['runs_dir']!r}"
        )
    return read_typed(path, SweepRecord, where=str(path), code="MODEL_LOAD_FAILED")

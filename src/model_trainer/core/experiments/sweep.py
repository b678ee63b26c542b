"""Sweeps: one base config, a space of values for some of its fields, one run per trial.

A sampler picks each trial's values: ``grid`` walks every combination in order, ``random``
draws each field's value (seeded), ``optuna`` asks Optuna's TPE sampler and prunes a trial
whose validation losses (the kit's epoch and evaluation events) fall behind the median of
the trials before it. Every trial is an ordinary run, ``<sweep_id>-t<NN>``, in the runs
folder (with its checkpoints, model and report).

Trials run in *slots*, one trial a slot at once, each on its slot's device (``sweep_slots``):
on a machine with several GPUs one slot a GPU, else one slot and trials one at a time. Each
trial trains on its own thread; the sweep's thread starts a trial on every free slot, waits
for any to end, records it, and starts the next in the freed slot.

The sweep's record, ``<runs_dir>/<sweep_id>/sweep.json``, holds the base config, the space
and every trial decided so far with its state, rewritten atomically at each change (only
ever by the sweep's thread). A Stop ends every running trial with a checkpoint and the sweep
after them; ``resume_sweep`` keeps every finished trial, continues each stopped one from its
checkpoint and goes on, in slots picked again for the machine it runs on. A trial's value is
its lowest validation loss in bits per character.
"""

from __future__ import annotations

import itertools
import json
import math
import queue
import random
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal, TypedDict

from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import DeviceName, ModelTrainConfig, TrainOutcome
from model_trainer.core.contracts.schema import TRAIN_FIELDS, train_overlay
from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.contracts.validators import check_device, validate_model_train_config
from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import JsonValue, make_progress_event
from model_trainer.core.events.sinks import CallbackSink, EventSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch, is_eval
from model_trainer.core.extras import require_extra
from model_trainer.core.jobs.job_store import write_json_atomic
from model_trainer.core.jobs.run_store import (
    EVENTS_FILE,
    run_dir,
    validate_run_id,
)
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory
from model_trainer.core.jobs.train_job import resume_train, start_train
from model_trainer.core.training.checkpoint import CHECKPOINT_DIR, latest_name, load_history
from model_trainer.core.training.device import available_device, cuda_count
from model_trainer.core.training.early_stop import early_stopping, watched_loss
from model_trainer.core.training.loss import bits_per_char
from model_trainer.core.training.manifest import MANIFEST_FILE, read_manifest
from model_trainer.core.training.outcome import train_outcome

SWEEP_FILE: Final = "sweep.json"
SamplerName = Literal["grid", "random", "optuna"]
SAMPLERS: Final[tuple[SamplerName, ...]] = ("grid", "random", "optuna")
SpaceValue = str | int | float | bool
TrialState = Literal["running", "completed", "pruned", "stopped", "failed"]
ENDED: Final[tuple[TrialState, ...]] = ("completed", "pruned", "failed")
_FIELDS: Final = tuple(field["name"] for field in TRAIN_FIELDS)


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


def trial_config(base: ModelTrainConfig, params: Mapping[str, SpaceValue]) -> ModelTrainConfig:
    """``base`` with ``params`` over it, types checked (rules are the validator's)."""
    return train_overlay(dict(params), base, where="space")


def check_space(base: ModelTrainConfig, space: Mapping[str, object]) -> dict[str, list[SpaceValue]]:
    """The space as lists of values, each checked as a value of its config field.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the field and the value for an empty
            space, a name that is not a config field, a field without a non-empty list of
            values, or a value of the wrong type or against the field's rule.
    """
    if not isinstance(space, Mapping) or not space:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"space must map config fields to lists of values, got {space!r}"
        )
    checked: dict[str, list[SpaceValue]] = {}
    for name, values in space.items():
        if name not in _FIELDS:
            raise ModelTrainerError(
                "INVALID_CONFIG", f"space: {name!r} is not a config field (one of {_FIELDS})"
            )
        if not isinstance(values, list | tuple) or not values:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"space[{name!r}] must be a non-empty list of values, got {values!r}",
            )
        for value in values:
            if not isinstance(value, str | int | float | bool):
                raise ModelTrainerError(
                    "INVALID_CONFIG", f"space[{name!r}]: {value!r} is not a config value"
                )
            validate_model_train_config(trial_config(base, {name: value}))
        checked[name] = [value for value in values if isinstance(value, str | int | float | bool)]
    return checked


def grid_params(space: Mapping[str, list[SpaceValue]]) -> list[dict[str, SpaceValue]]:
    """Every combination of the space's values, the last field changing fastest."""
    names = list(space)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*space.values())]


def random_params(
    space: Mapping[str, list[SpaceValue]], seed: int, count: int
) -> list[dict[str, SpaceValue]]:
    """``count`` draws of one value per field, the same for the same ``seed``."""
    rng = random.Random(seed)
    return [{name: rng.choice(values) for name, values in space.items()} for _ in range(count)]


def sweep_slots(
    devices: Sequence[str] | None, base: DeviceName, cuda_devices: int, *, compiles: bool
) -> list[str]:
    """The device of each slot of a sweep: as many trials run at once as there are slots.

    ``devices`` None picks them: one slot a GPU (``cuda:0``, ``cuda:1``, ...) when the base
    config's device ``base`` is ``auto`` or ``cuda`` and the machine has several CUDA devices
    (``cuda_devices``), else one slot on ``base`` (trials one at a time). A list names each
    slot's device: ``["cuda:0", "cuda:2"]``, or ``["cpu", "cpu"]`` for two trials at once on a
    CPU. Trials that may compile (``compiles``: ``compile`` True or ``auto`` in the base or
    the space) take one slot, as ``torch.compile`` is not safe on several threads at once.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``devices`` and the value for something
            other than a non-empty list of device names, or several slots for trials that
            compile.
    """
    if devices is None:
        several = base in ("auto", "cuda") and cuda_devices > 1 and not compiles
        return [f"cuda:{index}" for index in range(cuda_devices)] if several else [base]
    if isinstance(devices, str) or not isinstance(devices, Sequence) or not devices:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"devices must be a non-empty list of devices, one a slot (e.g. ['cuda:0', "
            f"'cuda:1']), or None for one a GPU; got {devices!r}",
        )
    for number, device in enumerate(devices):
        check_device(f"devices[{number}]", device)
    if len(devices) > 1 and compiles:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"devices {list(devices)!r} runs trials at once, and these trials may compile "
            f"(compile True or 'auto'), which is not safe on several threads; give one device "
            f"or set compile=False",
        )
    return list(devices)


def _slots(record: SweepRecord, devices: Sequence[str] | None) -> list[str]:
    """The slots of ``record``'s sweep on this machine, each device checked present."""
    compiles = [record["base"]["compile"], *record["space"].get("compile", [])]
    slots = sweep_slots(
        devices,
        record["base"]["device"],
        cuda_count(),
        compiles=any(choice is not False for choice in compiles),
    )
    for device in slots:
        available_device(device)
    return slots


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


class Planner:
    """Decides the values of each new trial and hears how each ended."""

    def __init__(self, record: SweepRecord) -> None:
        self.record = record
        self._study: OptunaStudy | None = None
        self._lock = threading.Lock()
        space, count = record["space"], record["num_trials"]
        if record["sampler"] == "grid":
            self._planned = grid_params(space)[:count]
        elif record["sampler"] == "random":
            self._planned = random_params(space, record["seed"], count)
        else:
            self._planned = []
            self._study = OptunaStudy(record)

    def count(self) -> int:
        """How many trials the sweep runs."""
        if self.record["sampler"] == "grid":
            return len(self._planned)
        return self.record["num_trials"]

    def ask(self, index: int) -> dict[str, SpaceValue]:
        """The values of trial ``index``."""
        with self._lock:
            if self._study is not None:
                return self._study.ask(index)
            return self._planned[index]

    def pruned(self, index: int, step: int, value: float) -> bool:
        """Hear a validation value of trial ``index``; True when the trial should stop.

        Called on the trial's thread, while the sweep's thread may ask or tell.
        """
        with self._lock:
            return self._study is not None and self._study.report(index, step, value)

    def tell(self, trial: TrialRecord) -> None:
        """Hear how a trial ended."""
        with self._lock:
            if self._study is not None:
                self._study.tell(trial)


class OptunaStudy:
    """Optuna's TPE sampler and median pruner over the sweep's space (the ``optuna`` extra)."""

    def __init__(self, record: SweepRecord) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = record["space"]
        self.study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=record["seed"]),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
        )
        self.trials: dict[int, optuna.trial.Trial] = {}
        self.distributions = {
            name: optuna.distributions.CategoricalDistribution(values)
            for name, values in self.space.items()
        }
        for trial in record["trials"]:
            self._add(trial)

    def _add(self, record: TrialRecord) -> None:
        """Tell Optuna of a trial it did not ask for (one of a resumed sweep), when completed."""
        import optuna

        if record["state"] == "completed" and record["value"] is not None:
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=dict(record["params"]),
                    distributions=dict(self.distributions),
                    value=record["value"],
                )
            )

    def ask(self, index: int) -> dict[str, SpaceValue]:
        """Ask Optuna for the values of trial ``index``."""
        trial = self.study.ask(dict(self.distributions))
        self.trials[index] = trial
        return {name: trial.params[name] for name in self.space}

    def report(self, index: int, step: int, value: float) -> bool:
        """Report a validation value of trial ``index``; True when it should be pruned.

        A trial resumed from an earlier process was not asked here and is never pruned.
        """
        trial = self.trials.get(index)
        if trial is None:
            return False
        trial.report(value, step)
        return trial.should_prune()

    def tell(self, record: TrialRecord) -> None:
        """Tell Optuna how trial ``record`` ended."""
        import optuna

        trial = self.trials.get(record["index"])
        if trial is None:
            self._add(record)
            return
        state = record["state"]
        if state == "completed" and record["value"] is not None:
            self.study.tell(trial, record["value"])
        elif state == "pruned":
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)


class _TrialWatch:
    """Watches one trial's events: forwards them to the sweep, reports its validations."""

    def __init__(self, control: JobControl, planner: Planner, index: int) -> None:
        self.control = control
        self.planner = planner
        self.index = index
        self.unit: Literal["token", "char"] = "token"
        self.chars = 1.0
        self.pruned = False
        self.stop: Callable[[], None] = lambda: None

    def emit(self, event: Event) -> None:
        """Forward ``event``; a validation that falls behind prunes the trial."""
        self.control.emit(event)
        if is_config(event):
            self.unit = event.get("loss_unit", "token")
            self.chars = event.get("chars_per_token", 1.0)
            return
        if is_eval(event) or is_epoch(event):
            self._validated(event["global_step"], event["val_loss"])

    def _validated(self, step: int, loss: float | None) -> None:
        if loss is None:
            return
        value = bits_per_char(loss, self.unit, self.chars)
        if not self.pruned and self.planner.pruned(self.index, step, value):
            self.pruned = True
            self.stop()


class _Running:
    """A trial running in a slot: its record, its job, its watch and the slot's device."""

    def __init__(
        self, trial: TrialRecord, job: JobHandle[TrainOutcome], watch: _TrialWatch, device: str
    ) -> None:
        self.trial = trial
        self.job = job
        self.watch = watch
        self.device = device


class SweepWork:
    """The body of a sweep, run on its job's thread: a trial on each free slot at once."""

    def __init__(
        self,
        record: SweepRecord,
        settings: Settings,
        registry: ModelRegistry,
        slots: Sequence[str],
    ) -> None:
        self.record = record
        self.settings = settings
        self.registry = registry
        self.slots = list(slots)

    def __call__(self, control: JobControl) -> SweepResult:
        """Run every trial not yet ended, one a slot at once; return every trial's result.

        A trial ends on its own thread and is recorded here, on the sweep's thread, which
        then starts the next trial in the freed slot. A trial that cannot start (a config
        its values make invalid) is recorded as failed with its error, and the next starts.
        """
        planner = Planner(self.record)
        ended = {trial["index"] for trial in self.record["trials"] if trial["state"] in ENDED}
        waiting = [index for index in range(planner.count()) if index not in ended]
        free = list(self.slots)
        running: list[_Running] = []
        ends: queue.SimpleQueue[_Running] = queue.SimpleQueue()
        try:
            while True:
                while free and waiting and not control.cancelled():
                    device = free.pop(0)
                    started = self._begin(control, planner, waiting.pop(0), device, ends)
                    if started is None:
                        free.append(device)
                    else:
                        running.append(started)
                if not running:
                    break
                done = ends.get()
                running.remove(done)
                free.append(done.device)
                self._ended(planner, done)
        finally:
            self._halt(planner, running)
        return self._result(control.cancelled())

    def _begin(
        self,
        control: JobControl,
        planner: Planner,
        index: int,
        device: str,
        ends: queue.SimpleQueue[_Running],
    ) -> _Running | None:
        """Start trial ``index`` on ``device``; its end is put on ``ends``.

        None when it cannot start: it is then recorded as failed, with its error.
        """
        record = self.record
        total = planner.count()
        known = [trial for trial in record["trials"] if trial["index"] == index]
        trial: TrialRecord = (
            known[0]
            if known
            else {
                "index": index,
                "run_id": f"{record['sweep_id']}-t{index:02d}",
                "params": planner.ask(index),
                "state": "running",
                "value": None,
                "error_code": None,
                "error_message": None,
            }
        )
        if not known:
            record["trials"].append(trial)
        trial["state"] = "running"
        write_record(self.settings, record)
        control.emit(
            make_progress_event(
                job_id=control.job_id,
                user_id=control.user_id,
                progress=index * 100 // total,
                message=f"trial {index + 1}/{total}: {trial['run_id']} on {device}",
                payload=_payload(trial, device),
            )
        )
        watch = _TrialWatch(control, planner, index)
        try:
            job = self._start(trial, watch, device)
        except ModelTrainerError as error:
            trial["state"] = "failed"
            trial["error_code"] = error.code
            trial["error_message"] = error.message
            planner.tell(trial)
            write_record(self.settings, record)
            return None
        watch.stop = job.cancel
        control.on_cancel(job.cancel)
        running = _Running(trial, job, watch, device)
        threading.Thread(
            target=_put_at_end, args=(running, ends), name=f"{trial['run_id']}-end", daemon=True
        ).start()
        return running

    def _start(
        self, trial: TrialRecord, watch: _TrialWatch, device: str
    ) -> JobHandle[TrainOutcome]:
        folder = run_dir(self.settings, trial["run_id"])
        sinks: tuple[EventSink, ...] = (CallbackSink(watch.emit),)
        if folder.exists() and latest_name(str(folder / CHECKPOINT_DIR)) is not None:
            return resume_train(
                trial["run_id"], self.settings, sinks=sinks, registry=self.registry, device=device
            )
        if folder.exists():
            shutil.rmtree(folder)
        cfg: ModelTrainConfig = {
            **trial_config(self.record["base"], trial["params"]),
            "device": device,
        }
        return start_train(
            cfg, self.settings, sinks=sinks, run_id=trial["run_id"], registry=self.registry
        )

    def _ended(self, planner: Planner, running: _Running) -> None:
        """Record how a trial ended; tell the planner unless it was stopped."""
        trial = running.trial
        self._state(trial, running.job, running.watch)
        if trial["state"] != "stopped":
            planner.tell(trial)
        write_record(self.settings, self.record)

    def _halt(self, planner: Planner, running: list[_Running]) -> None:
        """Stop the trials still running (when the sweep itself fails), and record them."""
        for each in running:
            each.job.cancel()
        for each in running:
            each.job.wait()
        for each in running:
            self._ended(planner, each)

    def _state(self, trial: TrialRecord, job: JobHandle[TrainOutcome], watch: _TrialWatch) -> None:
        folder = run_dir(self.settings, trial["run_id"])
        error = job.error
        trial["value"] = sweep_value(folder)
        if job.state == "completed":
            trial["state"] = "completed"
        elif job.state == "cancelled":
            trial["state"] = "pruned" if watch.pruned else "stopped"
        else:
            trial["state"] = "failed"
        trial["error_code"] = None if error is None else error.code
        trial["error_message"] = None if error is None else error.message

    def _result(self, stopped: bool) -> SweepResult:
        record = self.record
        trials: list[SweepTrial] = []
        for trial in sorted(record["trials"], key=lambda trial: trial["index"]):
            folder = run_dir(self.settings, trial["run_id"])
            started = (folder / MANIFEST_FILE).is_file()
            # A run's manifest holds the config it trains with: its slot's device included.
            cfg = (
                read_manifest(str(folder))["config"]
                if started
                else trial_config(record["base"], trial["params"])
            )
            outcome = stored_outcome(folder, cfg) if started else None
            trials.append({**trial, "config": cfg, "outcome": outcome})
        failed = [trial for trial in trials if trial["state"] == "failed"]
        if trials and len(failed) == len(trials) and not stopped:
            raise ModelTrainerError(
                failed[0]["error_code"] or "INTERNAL_ERROR",
                f"sweep {record['sweep_id']!r}: every trial failed: "
                + "; ".join(
                    f"{trial['run_id']}: {trial['error_code']} {trial['error_message']}"
                    for trial in failed
                ),
            )
        scored = [
            trial
            for trial in trials
            if trial["state"] == "completed" and trial["value"] is not None
        ]
        best = min(scored, key=lambda trial: trial["value"] or math.inf, default=None)
        return {
            "sweep_id": record["sweep_id"],
            "trials": trials,
            "best_run_id": None if best is None else best["run_id"],
            "best_value": None if best is None else best["value"],
            "stopped": stopped,
        }


def _put_at_end(running: _Running, ends: queue.SimpleQueue[_Running]) -> None:
    """Wait for a trial's job to end, then put it on ``ends`` (a waiter's thread)."""
    running.job.wait()
    ends.put(running)


def _payload(trial: TrialRecord, device: str) -> dict[str, JsonValue]:
    params: dict[str, JsonValue] = dict(trial["params"].items())
    return {"run_id": trial["run_id"], "index": trial["index"], "params": params, "device": device}


def _cancel_message(result: SweepResult) -> str | None:
    if not result["stopped"]:
        return None
    done = sum(trial["state"] in ENDED for trial in result["trials"])
    return (
        f"sweep {result['sweep_id']!r} was stopped after {done} finished trials; "
        f"resume_sweep({result['sweep_id']!r}) continues it"
    )


def _start(
    record: SweepRecord,
    settings: Settings,
    *,
    slots: Sequence[str],
    registry: ModelRegistry,
    sinks: Sequence[EventSink],
    view: ViewFactory | None,
) -> JobHandle[SweepResult]:
    handle: JobHandle[SweepResult] = JobHandle(
        kind="sweep",
        job_id=record["sweep_id"],
        run_id="",
        run_dir=str(sweep_folder(settings, record["sweep_id"])),
        work=SweepWork(record, settings, registry, slots),
        sinks=sinks,
        view=view,
        cancel_message=_cancel_message,
        result_id=lambda result: result["best_run_id"] or result["sweep_id"],
    )
    return handle.start()


def start_sweep(
    base: ModelTrainConfig,
    space: Mapping[str, object],
    settings: Settings,
    *,
    sampler: str = "grid",
    num_trials: int | None = None,
    seed: int = 0,
    sweep_id: str,
    registry: ModelRegistry,
    devices: Sequence[str] | None = None,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
) -> JobHandle[SweepResult]:
    """Start a sweep over ``space`` around ``base`` on a thread; returns its handle at once.

    ``num_trials`` caps a grid and is required for ``random`` and ``optuna``. ``devices``
    names the device of each slot (one trial a slot at once); None: one slot a GPU on a
    machine with several, else one slot on the base config's device (``sweep_slots``).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming the field and the value for a bad base
            config, space, sampler, trial count, sweep id or ``devices``, or a sweep id
            already taken; ``MODEL_NOT_FOUND`` for an unregistered family;
            ``CUDA_NOT_AVAILABLE`` for a slot's device the machine lacks.
    """
    validate_model_train_config(base, registry.require(base["model_family"], "supports_train"))
    checked = check_space(base, space)
    if sampler not in SAMPLERS:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}"
        )
    if sampler == "optuna":
        require_extra("optuna", extra="optuna", needed_by="sampler='optuna'")
    grid = len(grid_params(checked))
    if num_trials is None and sampler != "grid":
        raise ModelTrainerError(
            "INVALID_CONFIG", f"num_trials must be set for sampler={sampler!r}, got None"
        )
    count = grid if num_trials is None else num_trials
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"num_trials must be an integer >= 1, got {num_trials!r}"
        )
    folder = sweep_folder(settings, sweep_id)
    if folder.exists():
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"sweep_id {sweep_id!r} already exists in {settings['runs_dir']!r}; "
            f"resume_sweep({sweep_id!r}) continues it",
        )
    record: SweepRecord = {
        "sweep_id": sweep_id,
        "sampler": "grid" if sampler == "grid" else "random" if sampler == "random" else "optuna",
        "base": base,
        "space": checked,
        "num_trials": count,
        "seed": seed,
        "trials": [],
    }
    slots = _slots(record, devices)
    write_record(settings, record)
    return _start(record, settings, slots=slots, registry=registry, sinks=sinks, view=view)


def resume_sweep(
    sweep_id: str,
    settings: Settings,
    *,
    registry: ModelRegistry,
    devices: Sequence[str] | None = None,
    sinks: Sequence[EventSink] = (),
    view: ViewFactory | None = None,
) -> JobHandle[SweepResult]:
    """Continue a stopped sweep: finished trials kept, stopped ones resumed; returns at once.

    Its slots are picked again for this machine (``devices`` as for ``start_sweep``): a
    stopped trial continues from its checkpoint on the device of the slot it gets.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such sweep), ``MODEL_LOAD_FAILED`` (a
            damaged record), ``INVALID_CONFIG`` (a bad sweep id or ``devices``),
            ``CUDA_NOT_AVAILABLE`` (a slot's device the machine lacks).
    """
    record = read_record(settings, sweep_id)
    slots = _slots(record, devices)
    return _start(record, settings, slots=slots, registry=registry, sinks=sinks, view=view)

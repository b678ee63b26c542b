"""Sweeps: one base config, a space of values for some of its fields, one run per trial.

A sampler picks each trial's values (``sweep_plan``: grid, random, or Optuna pruning a trial
whose validation losses, the kit's epoch and evaluation events, fall behind). Every trial is
an ordinary run, ``<sweep_id>-t<NN>``, in the runs folder (with its checkpoints, model and
report).

Trials run in *slots*, one trial a slot at once, each on its slot's device (``sweep_slots``):
on a machine with several GPUs one slot a GPU, else one slot and trials one at a time. Each
trial trains on its own thread; the sweep's thread starts a trial on every free slot, waits
for any to end, records it, and starts the next in the freed slot.

The sweep's record (``sweep_record``) is rewritten only ever by the sweep's thread. A Stop
ends every running trial with a checkpoint and the sweep after them; ``resume_sweep`` keeps
every finished trial, continues each stopped one from its checkpoint and goes on, in slots
picked again for the machine it runs on.
"""

from __future__ import annotations

import math
import queue
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, TrainOutcome
from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.contracts.validators import (
    MAX_SEED,
    MAX_TRIALS,
    check_count,
    validate_model_train_config,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import JsonValue, make_progress_event
from model_trainer.core.events.sinks import CallbackSink, EventSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch, is_eval
from model_trainer.core.experiments.sweep_plan import (
    Planner,
    check_space,
    grid_params,
    pick_slots,
    trial_config,
)
from model_trainer.core.experiments.sweep_record import (
    ENDED,
    SAMPLERS,
    SweepRecord,
    SweepResult,
    SweepTrial,
    TrialRecord,
    read_record,
    stored_outcome,
    sweep_folder,
    sweep_value,
    write_record,
)
from model_trainer.core.extras import require_extra
from model_trainer.core.jobs.run_store import run_dir
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory
from model_trainer.core.jobs.train_job import resume_train, start_train
from model_trainer.core.training.checkpoint import CHECKPOINT_DIR, latest_name
from model_trainer.core.training.manifest import MANIFEST_FILE, read_manifest


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
    check_count("num_trials", count, 1, MAX_TRIALS)
    check_count("seed", seed, 0, MAX_SEED)
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
    slots = pick_slots(record, devices)
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
    slots = pick_slots(record, devices)
    return _start(record, settings, slots=slots, registry=registry, sinks=sinks, view=view)

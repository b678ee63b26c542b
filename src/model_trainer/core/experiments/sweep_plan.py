"""What a sweep runs: its space checked, each trial's values, and its slots.

A sampler picks each trial's values: ``grid`` walks every combination in order, ``random``
draws each field's value (seeded), ``optuna`` asks Optuna's TPE sampler and prunes a trial
whose validation losses fall behind the median of the trials before it (``Planner``). Trials
run in slots, one trial a slot at once, each on its slot's device (``sweep_slots``).
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Mapping, Sequence
from typing import Final

from model_trainer.core.contracts.model import DeviceName, ModelTrainConfig
from model_trainer.core.contracts.schema import TRAIN_FIELDS, train_overlay
from model_trainer.core.contracts.validators import check_device, validate_model_train_config
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.experiments.sweep_record import SpaceValue, SweepRecord, TrialRecord
from model_trainer.core.training.device import available_device, cuda_count

_FIELDS: Final = tuple(field["name"] for field in TRAIN_FIELDS)


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


def pick_slots(record: SweepRecord, devices: Sequence[str] | None) -> list[str]:
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

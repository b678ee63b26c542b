"""Sweeps of tiny real runs: grid, random and Optuna, Stop and resume, bad input."""

from __future__ import annotations

import io
import math
import threading
from pathlib import Path

import pytest

from model_trainer import api, experiment_api
from model_trainer.core.config.settings import Settings
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import is_completed
from model_trainer.core.events.sinks import CallbackSink, ListSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch
from model_trainer.core.experiments.sweep import (
    SWEEP_FILE,
    SweepResult,
    grid_params,
    random_params,
    read_record,
    sweep_value,
)
from model_trainer.core.jobs.run_store import list_runs
from model_trainer.core.jobs.runner import JobHandle
from model_trainer.core.training.checkpoint import load_history
from model_trainer.core.training.corpus import builtin_text
from model_trainer.core.training.early_stop import watched_loss
from model_trainer.notebook.sweep_view import SweepConsole

BASE: dict[str, object] = {
    "model_family": "char_lstm",
    "model_size": "tiny",
    "num_epochs": 2,
    "max_seq_len": 16,
    "batch_size": 8,
    "max_steps_per_epoch": 3,
    "warmup_steps": 1,
    "device": "cpu",
}


@pytest.fixture
def base(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[:4000], encoding="utf-8")
    return {**BASE, "corpus_path": str(path)}


def test_grid_and_random_params_are_fixed_by_the_space_and_seed() -> None:
    space: dict[str, list[str | int | float | bool]] = {"a": [1, 2], "b": ["x", "y"]}
    assert grid_params(space) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    drawn = random_params(space, 7, 5)
    assert drawn == random_params(space, 7, 5)
    assert all(p["a"] in (1, 2) and p["b"] in ("x", "y") for p in drawn)


def test_a_grid_of_four_trials_makes_four_runs_and_picks_the_lowest(
    base: dict[str, object], runs: str
) -> None:
    sink = ListSink()
    job = experiment_api.sweep(
        base,
        {"learning_rate": [1e-3, 1e-2], "seed": [0, 1]},
        sweep_id="grid",
        runs_dir=runs,
        show=False,
        sinks=[sink],
    )
    result = job.result()
    assert job.state == "completed"
    run_ids = [f"grid-t{i:02d}" for i in range(4)]
    assert [trial["run_id"] for trial in result["trials"]] == run_ids
    assert [trial["params"] for trial in result["trials"]] == [
        {"learning_rate": 1e-3, "seed": 0},
        {"learning_rate": 1e-3, "seed": 1},
        {"learning_rate": 1e-2, "seed": 0},
        {"learning_rate": 1e-2, "seed": 1},
    ]
    settings_runs = {run["run_id"]: run for run in api.list_runs(runs_dir=runs)}
    assert sorted(settings_runs) == run_ids
    assert all(run["state"] == "completed" for run in settings_runs.values())
    losses: dict[str, float] = {}
    for trial in result["trials"]:
        assert trial["state"] == "completed"
        assert trial["config"]["learning_rate"] == trial["params"]["learning_rate"]
        history = load_history(str(Path(runs) / trial["run_id"]))
        losses[trial["run_id"]] = min(watched_loss(m) for m in history)
        outcome = trial["outcome"]
        assert outcome is not None
        assert outcome["epochs_completed"] == 2
        assert outcome["val_loss"] == history[-1]["val_loss"]
        assert trial["value"] == sweep_value(Path(runs) / trial["run_id"])
    assert result["best_run_id"] == min(losses, key=losses.__getitem__)
    assert result["best_value"] == min(t["value"] or math.inf for t in result["trials"])
    assert not result["stopped"]
    # Every trial's epochs reach the sweep's sinks, under the trial's run id.
    epochs = [(e["job_id"], e["epoch"]) for e in sink.events if is_epoch(e)]
    assert epochs == [(run_id, epoch) for run_id in run_ids for epoch in (1, 2)]
    assert (Path(runs) / "grid" / SWEEP_FILE).is_file()


def test_stop_mid_sweep_keeps_finished_trials_and_the_sweep_resumes(
    base: dict[str, object], runs: str, settings: Settings
) -> None:
    stopped = threading.Event()
    holder: list[JobHandle[SweepResult]] = []

    def stop_in_second_trial(event: Event) -> None:
        if event["job_id"] == "halt-t01" and is_epoch(event) and not stopped.is_set():
            stopped.set()
            holder[0].cancel()

    job = experiment_api.sweep(
        {**base, "num_epochs": 3},
        {"learning_rate": [1e-3, 2e-3, 3e-3]},
        sweep_id="halt",
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(stop_in_second_trial)],
    )
    holder.append(job)
    result = job.result()
    assert job.state == "cancelled"
    assert result["stopped"]
    assert [t["state"] for t in result["trials"]] == ["completed", "stopped"]
    first = result["trials"][0]
    assert first["outcome"] is not None
    assert first["outcome"]["epochs_completed"] == 3
    assert result["trials"][1]["outcome"] is not None
    record = read_record({**settings, "runs_dir": runs}, "halt")
    assert [t["state"] for t in record["trials"]] == ["completed", "stopped"]
    kept = load_history(str(Path(runs) / "halt-t00"))
    resumed = experiment_api.resume_sweep("halt", runs_dir=runs, show=False).result()
    assert [t["state"] for t in resumed["trials"]] == ["completed"] * 3
    assert load_history(str(Path(runs) / "halt-t00")) == kept
    assert resumed["trials"][0]["outcome"] == first["outcome"]
    assert [t["outcome"]["epochs_completed"] for t in resumed["trials"] if t["outcome"]] == [3] * 3
    assert [run["run_id"] for run in list_runs({**settings, "runs_dir": runs})] == [
        "halt-t00",
        "halt-t01",
        "halt-t02",
    ]


def test_random_and_optuna_samplers_run_their_trials(base: dict[str, object], runs: str) -> None:
    space = {"learning_rate": [1e-3, 3e-3, 1e-2]}
    drawn = experiment_api.sweep(
        base,
        space,
        sampler="random",
        num_trials=2,
        seed=4,
        sweep_id="rnd",
        runs_dir=runs,
        show=False,
    ).result()
    assert [t["params"] for t in drawn["trials"]] == random_params(
        {"learning_rate": [1e-3, 3e-3, 1e-2]}, 4, 2
    )


def test_optuna_prunes_a_trial_behind_the_median_and_resumes_with_its_trials(
    base: dict[str, object], runs: str
) -> None:
    holder: list[JobHandle[SweepResult]] = []

    def stop_after_first(event: Event) -> None:
        if event["job_id"] == "opt-t00" and is_completed(event):
            holder[0].cancel()

    space = {"learning_rate": [1e-5, 3e-2]}
    job = experiment_api.sweep(
        {**base, "num_epochs": 3},
        space,
        sampler="optuna",
        num_trials=3,
        seed=0,
        sweep_id="opt",
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(stop_after_first)],
    )
    holder.append(job)
    first = job.result()
    assert [t["state"] for t in first["trials"]] == ["completed"]
    tuned = experiment_api.resume_sweep("opt", runs_dir=runs, show=False).result()
    states = [t["state"] for t in tuned["trials"]]
    assert len(states) == 3
    assert "pruned" in states
    assert tuned["trials"][0] == {**first["trials"][0]}
    pruned = next(t for t in tuned["trials"] if t["state"] == "pruned")
    assert pruned["params"] == {"learning_rate": 1e-5}
    assert pruned["outcome"] is not None
    assert pruned["outcome"]["epochs_completed"] < 3
    completed = [t for t in tuned["trials"] if t["state"] == "completed"]
    best = min(completed, key=lambda t: t["value"] or math.inf)
    assert tuned["best_run_id"] == best["run_id"]


def test_a_trial_stopped_before_its_first_checkpoint_starts_over_on_resume(
    base: dict[str, object], runs: str
) -> None:
    holder: list[JobHandle[SweepResult]] = []

    def stop_at_once(event: Event) -> None:
        if event["job_id"] == "early-t00" and is_config(event):
            holder[0].cancel()

    job = experiment_api.sweep(
        base,
        {"seed": [0]},
        sweep_id="early",
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(stop_at_once)],
    )
    holder.append(job)
    result = job.result()
    assert [t["state"] for t in result["trials"]] == ["stopped"]
    assert result["trials"][0]["outcome"] is None
    assert result["trials"][0]["value"] is None
    resumed = experiment_api.resume_sweep("early", runs_dir=runs, show=False).result()
    assert [t["state"] for t in resumed["trials"]] == ["completed"]
    assert resumed["best_run_id"] == "early-t00"


def test_a_sweep_whose_trials_all_fail_ends_with_their_codes(
    base: dict[str, object], runs: str
) -> None:
    job = experiment_api.sweep(
        base, {"max_seq_len": [5000, 6000]}, sweep_id="fails", runs_dir=runs, show=False
    )
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert caught.value.code == "CORPUS_EMPTY"
    assert "fails-t00: CORPUS_EMPTY" in caught.value.message
    assert "fails-t01: CORPUS_EMPTY" in caught.value.message
    assert job.state == "failed"


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({}, "space must map config fields to lists of values, got {}"),
        ({"nope": [1]}, "space: 'nope' is not a config field"),
        ({"learning_rate": []}, r"space\['learning_rate'\] must be a non-empty list"),
        ({"learning_rate": 0.1}, r"space\['learning_rate'\] must be a non-empty list"),
        ({"learning_rate": [None]}, r"space\['learning_rate'\]: None is not a config value"),
        ({"batch_size": ["big"]}, "batch_size"),
        ({"batch_size": [0]}, "batch_size must be an integer >= 1, got 0"),
    ],
)
def test_a_bad_space_names_the_field_and_the_value(
    base: dict[str, object], runs: str, space: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelTrainerError, match=message) as caught:
        experiment_api.sweep(base, space, sweep_id="bad", runs_dir=runs, show=False)
    assert caught.value.code == "INVALID_CONFIG"
    assert not (Path(runs) / "bad").exists()


def test_bad_sweep_settings_are_refused(base: dict[str, object], runs: str) -> None:
    space = {"seed": [0, 1]}
    for kwargs, message in (
        ({"sampler": "annealing"}, "sampler must be one of grid, random, optuna, got 'annealing'"),
        ({"sampler": "random"}, "num_trials must be set for sampler='random', got None"),
        ({"num_trials": 0}, "num_trials must be an integer >= 1, got 0"),
    ):
        with pytest.raises(ModelTrainerError, match=message):
            experiment_api.sweep(base, space, sweep_id="bad", runs_dir=runs, show=False, **kwargs)
    with pytest.raises(ModelTrainerError, match="base_config"):
        experiment_api.sweep({"nope": 1}, space, runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="no sweep") as missing:
        experiment_api.resume_sweep("ghost", runs_dir=runs, show=False)
    assert missing.value.code == "MODEL_NOT_FOUND"
    experiment_api.sweep(base, {"seed": [0]}, sweep_id="taken", runs_dir=runs, show=False).result()
    with pytest.raises(ModelTrainerError, match="sweep_id 'taken' already exists"):
        experiment_api.sweep(base, space, sweep_id="taken", runs_dir=runs, show=False)


def test_the_console_view_prints_each_trial_as_it_ends(base: dict[str, object], runs: str) -> None:
    stream = io.StringIO()
    console = SweepConsole("cons", stream=stream)
    experiment_api.sweep(
        base, {"seed": [0, 1]}, sweep_id="cons", runs_dir=runs, show=False, sinks=[console]
    ).result()
    lines = stream.getvalue().splitlines()
    assert [line.split(" ")[1] for line in lines] == ["cons-t00", "cons-t01"]
    assert all("completed, best val" in line for line in lines)
    console.show()
    assert len(stream.getvalue().splitlines()) == 4


def test_optuna_hears_of_a_failed_trial(base: dict[str, object], runs: str) -> None:
    job = experiment_api.sweep(
        base,
        {"max_seq_len": [5000]},
        sampler="optuna",
        num_trials=1,
        sweep_id="optfail",
        runs_dir=runs,
        show=False,
    )
    with pytest.raises(ModelTrainerError, match="optfail-t00: CORPUS_EMPTY"):
        job.result()


def test_a_trial_without_a_validation_split_is_valued_by_its_training_loss(
    base: dict[str, object], runs: str
) -> None:
    result = experiment_api.sweep(
        {**base, "val_fraction": 0.0},
        {"seed": [2]},
        sampler="optuna",
        num_trials=1,
        sweep_id="noval",
        runs_dir=runs,
        show=False,
    ).result()
    history = load_history(str(Path(runs) / "noval-t00"))
    assert result["trials"][0]["value"] == pytest.approx(
        min(m["loss"] for m in history) / math.log(2.0)
    )


def test_an_optuna_trial_stopped_midway_resumes_and_is_told_to_optuna(
    base: dict[str, object], runs: str
) -> None:
    holder: list[JobHandle[SweepResult]] = []

    def stop_at_first_epoch(event: Event) -> None:
        if event["job_id"] == "optstop-t00" and is_epoch(event):
            holder[0].cancel()

    job = experiment_api.sweep(
        base,
        {"seed": [0]},
        sampler="optuna",
        num_trials=2,
        sweep_id="optstop",
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(stop_at_first_epoch)],
    )
    holder.append(job)
    assert [t["state"] for t in job.result()["trials"]] == ["stopped"]
    resumed = experiment_api.resume_sweep("optstop", runs_dir=runs, show=False).result()
    assert [t["state"] for t in resumed["trials"]] == ["completed", "completed"]

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
from model_trainer.core.events.job_events import is_completed, is_job_progress
from model_trainer.core.events.sinks import CallbackSink, ListSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch
from model_trainer.core.experiments.sweep_plan import grid_params, random_params, sweep_slots
from model_trainer.core.experiments.sweep_record import (
    SWEEP_FILE,
    SweepResult,
    read_record,
    sweep_value,
)
from model_trainer.core.jobs.run_store import list_runs
from model_trainer.core.jobs.runner import JobHandle
from model_trainer.core.training.checkpoint import load_history
from model_trainer.core.training.early_stop import watched_loss
from model_trainer.core.training.manifest import read_manifest
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
def base(corpus: str) -> dict[str, object]:
    return {**BASE, "corpus_path": corpus}


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
        ({"num_trials": 0}, r"num_trials must be an integer in \[1, 100_000\], got 0"),
        ({"num_trials": 10**12, "sampler": "random"}, "num_trials must be an integer in"),
        ({"num_trials": "2"}, "num_trials must be an integer in .*, got '2'"),
        ({"seed": 10**24}, rf"seed must be an integer in \[0, 4_294_967_295\], got {10**24}"),
        ({"seed": -1}, "seed must be an integer in .*, got -1"),
    ):
        with pytest.raises(ModelTrainerError, match=message):
            experiment_api.sweep(base, space, sweep_id="bad", runs_dir=runs, show=False, **kwargs)
    with pytest.raises(ModelTrainerError, match="base_config"):
        experiment_api.sweep({"nope": 1}, space, runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="no sweep") as missing:
        experiment_api.resume_sweep("ghost", runs_dir=runs, show=False)
    assert missing.value.code == "MODEL_NOT_FOUND"
    assert not (Path(runs) / "bad").exists()
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


def test_slots_are_one_a_gpu_when_there_are_several_else_the_base_device() -> None:
    four = ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert sweep_slots(None, "cpu", 0, compiles=False) == ["cpu"]
    assert sweep_slots(None, "auto", 0, compiles=False) == ["auto"]
    assert sweep_slots(None, "auto", 1, compiles=False) == ["auto"]
    assert sweep_slots(None, "cuda", 1, compiles=False) == ["cuda"]
    assert sweep_slots(None, "cuda", 4, compiles=False) == four
    assert sweep_slots(None, "auto", 4, compiles=False) == four
    assert sweep_slots(None, "cuda:2", 4, compiles=False) == ["cuda:2"]
    assert sweep_slots(None, "cpu", 4, compiles=False) == ["cpu"]
    assert sweep_slots(None, "mps", 0, compiles=False) == ["mps"]
    # torch.compile is not safe on several threads: trials that compile take one slot.
    assert sweep_slots(None, "cuda", 4, compiles=True) == ["cuda"]


def test_slots_named_by_a_list_are_checked() -> None:
    assert sweep_slots(["cuda:0", "cuda:2"], "cpu", 0, compiles=False) == ["cuda:0", "cuda:2"]
    assert sweep_slots(("cpu", "cpu"), "auto", 4, compiles=False) == ["cpu", "cpu"]
    assert sweep_slots(["cuda:1"], "cpu", 2, compiles=True) == ["cuda:1"]
    bad: list[tuple[list[str] | str, bool, str]] = [
        ([], False, "devices must be a non-empty list of devices, one a slot"),
        ("cuda:0", False, "devices must be a non-empty list .*; got 'cuda:0'"),
        (["gpu"], False, r"devices\[0\] must be one of auto, cpu, cuda, mps, or cuda:N"),
        (["cpu", "cuda:x"], False, r"devices\[1\] must be .*, got 'cuda:x'"),
        (["cpu", "cuda:"], False, r"devices\[1\] must be .*, got 'cuda:'"),
        (["cpu", "cpu"], True, r"devices \['cpu', 'cpu'\] runs trials at once.*compile=False"),
    ]
    for devices, compiles, message in bad:
        with pytest.raises(ModelTrainerError, match=message) as caught:
            sweep_slots(devices, "cpu", 0, compiles=compiles)
        assert caught.value.code == "INVALID_CONFIG"


def _most_at_once(events: list[Event], run_ids: list[str]) -> int:
    """The most trials running at once, from their jobs' started and end events."""
    running, most = 0, 0
    for event in events:
        if event["job_id"] not in run_ids:
            continue
        if event["type"] == "trainer.job.started.v1":
            running += 1
            most = max(most, running)
        elif event["type"] in ("trainer.job.completed.v1", "trainer.job.failed.v1"):
            running -= 1
    return most


def test_two_slots_run_two_trials_at_once_each_on_its_slots_device(
    base: dict[str, object], runs: str, settings: Settings
) -> None:
    sink = ListSink()
    job = experiment_api.sweep(
        {**base, "device": "auto"},
        {"learning_rate": [1e-3, 1e-2], "seed": [0, 1]},
        sweep_id="pair",
        devices=["cpu", "cpu"],
        runs_dir=runs,
        show=False,
        sinks=[sink],
    )
    result = job.result()
    run_ids = [f"pair-t{i:02d}" for i in range(4)]
    assert [trial["run_id"] for trial in result["trials"]] == run_ids
    assert [trial["state"] for trial in result["trials"]] == ["completed"] * 4
    assert sorted(run["run_id"] for run in api.list_runs(runs_dir=runs)) == run_ids
    assert _most_at_once(sink.events, run_ids) == 2
    for trial in result["trials"]:
        manifest = read_manifest(str(Path(runs) / trial["run_id"]))
        assert manifest["config"]["device"] == "cpu"
        assert manifest["config"]["learning_rate"] == trial["params"]["learning_rate"]
        assert trial["config"] == manifest["config"]  # the slot's device, not the base's auto
    values = {trial["run_id"]: trial["value"] or math.inf for trial in result["trials"]}
    assert result["best_run_id"] == min(values, key=values.__getitem__)
    assert result["best_value"] == min(values.values())
    started = [e for e in sink.events if e["job_id"] == "pair" and is_job_progress(e)]
    assert [e["message"].split(" on ")[-1] for e in started] == ["cpu"] * 4
    assert all(e.get("payload", {})["device"] == "cpu" for e in started if is_job_progress(e))
    record = read_record({**settings, "runs_dir": runs}, "pair")
    assert [t["state"] for t in record["trials"]] == ["completed"] * 4


def test_stop_in_a_two_slot_sweep_stops_every_running_trial_and_resume_finishes(
    base: dict[str, object], runs: str, settings: Settings
) -> None:
    holder: list[JobHandle[SweepResult]] = []
    stopped = threading.Event()

    def stop_in_third_trial(event: Event) -> None:
        if event["job_id"] == "both-t02" and is_epoch(event) and not stopped.is_set():
            stopped.set()
            holder[0].cancel()

    job = experiment_api.sweep(
        {**base, "num_epochs": 3},
        {"learning_rate": [1e-3, 2e-3, 3e-3, 4e-3]},
        sweep_id="both",
        devices=["cpu", "cpu"],
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(stop_in_third_trial)],
    )
    holder.append(job)
    result = job.result()
    assert job.state == "cancelled"
    assert result["stopped"]
    states = {trial["run_id"]: trial["state"] for trial in result["trials"]}
    assert states["both-t02"] == "stopped"
    assert set(states.values()) <= {"completed", "stopped"}
    finished = [run_id for run_id, state in states.items() if state == "completed"]
    assert finished  # a third trial starts only once one of the first two has ended
    record = read_record({**settings, "runs_dir": runs}, "both")
    assert {t["run_id"]: t["state"] for t in record["trials"]} == states
    kept = {run_id: load_history(str(Path(runs) / run_id)) for run_id in finished}
    outcomes = {t["run_id"]: t["outcome"] for t in result["trials"] if t["run_id"] in finished}

    resumed = experiment_api.resume_sweep(
        "both", devices=["cpu", "cpu"], runs_dir=runs, show=False
    ).result()
    assert [t["state"] for t in resumed["trials"]] == ["completed"] * 4
    for trial in resumed["trials"]:
        assert trial["outcome"] is not None
        assert trial["outcome"]["epochs_completed"] == 3
        if trial["run_id"] in finished:
            assert load_history(str(Path(runs) / trial["run_id"])) == kept[trial["run_id"]]
            assert trial["outcome"] == outcomes[trial["run_id"]]
    assert [run["run_id"] for run in list_runs({**settings, "runs_dir": runs})] == [
        f"both-t{i:02d}" for i in range(4)
    ]


def test_a_trial_that_cannot_start_fails_alone_and_the_sweep_goes_on(
    base: dict[str, object], runs: str, settings: Settings
) -> None:
    # Each value passes alone; BPE with 100 ids does not (the second trial).
    result = experiment_api.sweep(
        base,
        {"tokenizer_kind": ["char", "bpe", "char"], "vocab_size": [100]},
        sweep_id="nostart",
        devices=["cpu", "cpu"],
        runs_dir=runs,
        show=False,
    ).result()
    states = [(t["run_id"], t["state"], t["error_code"]) for t in result["trials"]]
    assert states == [
        ("nostart-t00", "completed", None),
        ("nostart-t01", "failed", "INVALID_CONFIG"),
        ("nostart-t02", "completed", None),
    ]
    failed = result["trials"][1]
    assert failed["outcome"] is None
    assert failed["error_message"] is not None
    assert "vocab_size must be an integer >= 260" in failed["error_message"]
    assert result["best_run_id"] in ("nostart-t00", "nostart-t02")
    record = read_record({**settings, "runs_dir": runs}, "nostart")
    assert [(t["run_id"], t["state"], t["error_code"]) for t in record["trials"]] == states
    assert [run["run_id"] for run in list_runs({**settings, "runs_dir": runs})] == [
        "nostart-t00",
        "nostart-t02",
    ]


def test_a_sweep_whose_trials_all_fail_to_start_raises_each_ones_error(
    base: dict[str, object], runs: str
) -> None:
    job = experiment_api.sweep(
        base,
        {"tokenizer_kind": ["bpe"], "vocab_size": [100, 120]},
        sweep_id="none",
        runs_dir=runs,
        show=False,
    )
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert caught.value.code == "INVALID_CONFIG"
    assert "none-t00: INVALID_CONFIG" in caught.value.message
    assert "none-t01: INVALID_CONFIG" in caught.value.message


def test_a_sweep_that_fails_itself_stops_its_running_trials_first(
    base: dict[str, object], runs: str, settings: Settings
) -> None:
    record_folder = Path(runs) / "broken"

    def break_the_record(event: Event) -> None:
        if is_config(event) and event["job_id"] == "broken-t01":  # the long trial runs
            (record_folder / "sweep.json").unlink()
            record_folder.rmdir()
            record_folder.write_text("not a folder", encoding="utf-8")

    job = experiment_api.sweep(
        base,
        {"num_epochs": [1, 500, 1]},
        sweep_id="broken",
        devices=["cpu", "cpu"],
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(break_the_record)],
    )
    with pytest.raises(ModelTrainerError) as caught:
        job.result()
    assert caught.value.code == "ARTIFACT_UPLOAD_FAILED"
    assert "in the way (a file or folder already has that name)" in caught.value.message
    states = {run["run_id"]: run["state"] for run in list_runs({**settings, "runs_dir": runs})}
    assert states == {"broken-t00": "completed", "broken-t01": "cancelled"}


def test_bad_devices_are_refused_before_anything_is_written(
    base: dict[str, object], runs: str
) -> None:
    space = {"seed": [0, 1]}
    with pytest.raises(ModelTrainerError, match="devices must be a non-empty list") as empty:
        experiment_api.sweep(base, space, sweep_id="dev", devices=[], runs_dir=runs, show=False)
    assert empty.value.code == "INVALID_CONFIG"
    with pytest.raises(ModelTrainerError, match="'cuda:0' was asked for") as absent:
        experiment_api.sweep(
            base, space, sweep_id="dev", devices=["cuda:0"], runs_dir=runs, show=False
        )
    assert absent.value.code == "CUDA_NOT_AVAILABLE"
    with pytest.raises(ModelTrainerError, match="may compile") as compiled:
        experiment_api.sweep(
            base,
            {"compile": [False, "auto"]},
            sweep_id="dev",
            devices=["cpu", "cpu"],
            runs_dir=runs,
            show=False,
        )
    assert compiled.value.code == "INVALID_CONFIG"
    assert not (Path(runs) / "dev").exists()
    experiment_api.sweep(base, {"seed": [0]}, sweep_id="done", runs_dir=runs, show=False).result()
    with pytest.raises(ModelTrainerError, match=r"devices\[0\] must be") as resumed:
        experiment_api.resume_sweep("done", devices=["gpu"], runs_dir=runs, show=False)
    assert resumed.value.code == "INVALID_CONFIG"

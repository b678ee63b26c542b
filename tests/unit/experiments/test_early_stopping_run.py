"""Early stopping and the best checkpoint on real tiny runs.

The corpus trains on ``ab`` repeated and validates on ``b`` repeated: the better the model
learns that ``b`` follows ``a`` and ``a`` follows ``b``, the worse it predicts the validation
text, so the validation loss rises after the first epoch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from model_trainer import api
from model_trainer.cli import main
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.trainer_metrics_events import is_completed_metrics, is_epoch
from model_trainer.core.jobs.run_store import EVENTS_FILE
from model_trainer.core.training.checkpoint import (
    CHECKPOINT_DIR,
    best_root,
    latest_name,
    load_best,
    load_history,
    use_weights,
)
from model_trainer.core.training.early_stop import watched_loss


def rising_corpus(folder: Path) -> str:
    path = folder / "rising.txt"
    path.write_text("ab" * 600 + "b" * 400, encoding="utf-8")
    return str(path)


def test_a_rising_validation_loss_stops_the_run_and_its_best_checkpoint_loads(
    tmp_path: Path, runs: str
) -> None:
    job = api.train(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=rising_corpus(tmp_path),
        num_epochs=8,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=6,
        learning_rate=1e-2,
        warmup_steps=1,
        val_fraction=0.25,
        device="cpu",
        early_stopping_patience=2,
        runs_dir=runs,
        show=False,
        run_id="stops",
    )
    outcome = job.result()
    assert (outcome["stop_reason"], outcome["cancelled"]) == ("early_stopping", False)
    assert job.state == "completed"
    folder = Path(runs) / "stops"
    history = load_history(str(folder))
    val = [watched_loss(m) for m in history]
    assert [m["val_loss"] for m in history] == val
    assert len(history) == outcome["epochs_completed"] == 3
    assert val[0] < min(val[1], val[2])
    events = read_events(folder / EVENTS_FILE)
    assert [e["epoch"] for e in events if is_epoch(e)] == [1, 2, 3]
    completed = [e for e in events if is_completed_metrics(e)]
    assert [e.get("stop_reason") for e in completed] == ["early_stopping"]
    # The best checkpoint is the first epoch's; it sits beside the last one.
    root = str(folder / CHECKPOINT_DIR)
    assert latest_name(root) == f"ckpt-{history[-1]['global_step']}"
    best = load_best(root)
    assert best["meta"]["position"]["global_step"] == history[0]["global_step"]
    assert latest_name(best_root(root)) == f"ckpt-{history[0]['global_step']}"
    # load_run(which="best") gives those weights; the last ones differ.
    last = api.load_run("stops", runs_dir=runs)
    chosen = api.load_run("stops", which="best", runs_dir=runs)
    for name, value in chosen["model"].state_dict().items():
        assert torch.equal(value, best["weights"][name])
    assert any(
        not torch.equal(value, last["model"].state_dict()[name])
        for name, value in chosen["model"].state_dict().items()
    )
    best_score = api.score(chosen, text="bbbbbbbbbbbb")
    last_score = api.score(last, text="bbbbbbbbbbbb")
    assert best_score["loss"] < last_score["loss"]


def test_which_must_name_a_checkpoint_and_a_run_needs_a_best_one(tmp_path: Path, runs: str) -> None:
    job = api.train(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=rising_corpus(tmp_path),
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
        runs_dir=runs,
        show=False,
        run_id="plain",
    )
    assert job.result()["stop_reason"] == "completed"
    with pytest.raises(ModelTrainerError, match="which must be 'last' or 'best', got 'first'"):
        use_weights(api.load_run("plain", runs_dir=runs)["model"], runs, "first")
    shutil.rmtree(best_root(str(Path(runs) / "plain" / CHECKPOINT_DIR)))
    with pytest.raises(ModelTrainerError, match="no best checkpoint") as caught:
        api.load_run("plain", which="best", runs_dir=runs)
    assert caught.value.code == "MODEL_NOT_FOUND"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("early_stopping_patience", -1, "early_stopping_patience must be an integer >= 0, got -1"),
        (
            "early_stopping_min_delta",
            -0.5,
            "early_stopping_min_delta must be a finite number >= 0, got -0.5",
        ),
    ],
)
def test_a_bad_early_stopping_setting_names_the_field(
    field: str, value: float, message: str
) -> None:
    with pytest.raises(ModelTrainerError, match=message) as caught:
        train_config(**{field: value})
    assert caught.value.code == "INVALID_CONFIG"


def test_the_command_line_scores_and_samples_with_the_best_checkpoint(
    tmp_path: Path, runs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api.train(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=rising_corpus(tmp_path),
        num_epochs=3,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=6,
        learning_rate=1e-2,
        warmup_steps=1,
        val_fraction=0.25,
        device="cpu",
        runs_dir=runs,
        show=False,
        run_id="cli-best",
    ).result()
    text = "bbbbbbbbbbbb"
    capsys.readouterr()
    for which in ("last", "best"):
        assert (
            main(
                [
                    "score",
                    "cli-best",
                    "--text",
                    text,
                    "--which",
                    which,
                    "--runs-dir",
                    runs,
                    "--json",
                ]
            )
            == 0
        )
        printed = json.loads(capsys.readouterr().out)
        model = api.load_run("cli-best", which=which, runs_dir=runs)
        assert printed["loss"] == pytest.approx(api.score(model, text=text)["loss"])
    assert (
        main(
            [
                "generate",
                "cli-best",
                "--prompt",
                "ab",
                "--max-new-tokens",
                "5",
                "--which",
                "best",
                "--runs-dir",
                runs,
                "--json",
            ]
        )
        == 0
    )
    sampled = json.loads(capsys.readouterr().out)
    best = api.load_run("cli-best", which="best", runs_dir=runs)
    assert sampled["outputs"] == api.generate(best, prompt_text="ab", max_new_tokens=5)["outputs"]

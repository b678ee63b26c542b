"""A checkpoint's ``state.json`` is checked against its run before a resume believes it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.jobs.train_job import resume_train, start_train
from model_trainer.core.training.checkpoint import STATE_FILE, latest_name

STEPS = 4
JSON = dict[str, object]


def _cfg(tmp_path: Path) -> ModelTrainConfig:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:6000], encoding="utf-8")
    return train_config(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=3,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=STEPS,
        warmup_steps=1,
        device="cpu",
        seed=3,
    )


def _stopped_in_epoch_two(cfg: ModelTrainConfig, settings: Settings) -> Path:
    """The state file of a run stopped one step into its second epoch."""
    reached, go_on = threading.Event(), threading.Event()

    def pause(event: Event) -> None:
        if event["type"] == "trainer.metrics.progress.v1" and event["step"] == STEPS + 1:
            reached.set()
            assert go_on.wait(30.0)

    handle = start_train(cfg, settings, run_id="edited", sinks=[CallbackSink(pause)])
    assert reached.wait(30.0)
    handle.cancel()
    go_on.set()
    assert handle.result()["cancelled"]
    root = Path(handle.run_dir) / "checkpoint"
    name = latest_name(str(root))
    assert name is not None
    return root / name / STATE_FILE


def _position(**fields: object) -> Callable[[JSON], None]:
    def edit(state: JSON) -> None:
        position = state["position"]
        assert isinstance(position, dict)
        position.update(fields)

    return edit


def _drop_history(state: JSON) -> None:
    state["history"] = []


EDITS: list[tuple[Callable[[JSON], None], str]] = [
    (_position(epoch=99), "position.epoch=99 (step 1) is past the run's num_epochs=3"),
    (_position(global_step=-5), "position.global_step=-5 is not a count >= 0"),
    (_position(step_in_epoch=-1), "position.step_in_epoch=-1 is not a count >= 0"),
    (_position(loss_sum=float("nan")), "position.loss_sum=nan is not a count >= 0"),
    (_position(step_in_epoch=500), "position.step_in_epoch=500 is past the epoch's 4 batches"),
    (
        _position(epoch=2),
        "history holds epochs [1] and position.epoch=2: it must hold epochs 1 to 2",
    ),
    (_drop_history, "history holds epochs [] and position.epoch=1: it must hold epochs 1 to 1"),
    (
        _position(global_step=1),
        "position.global_step=1 is before the last finished epoch's global_step=4",
    ),
]


def test_a_hand_edited_state_is_refused_and_the_run_resumes_once_restored(
    tmp_path: Path, settings: Settings
) -> None:
    fast: Settings = {**settings, "progress_interval_s": 0.0}
    state = _stopped_in_epoch_two(_cfg(tmp_path), fast)
    original = state.read_text(encoding="utf-8")
    for edit, detail in EDITS:
        edited = json.loads(original)
        edit(edited)
        state.write_text(json.dumps(edited), encoding="utf-8")
        with pytest.raises(ModelTrainerError) as info:
            resume_train("edited", fast).result()
        assert info.value.code == "MODEL_LOAD_FAILED"
        assert info.value.message == f"checkpoint file {state}: {detail}"
    state.write_text(original, encoding="utf-8")
    assert resume_train("edited", fast).result()["epochs_completed"] == 3

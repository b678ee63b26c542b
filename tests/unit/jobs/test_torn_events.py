"""A run whose events.jsonl a crash tore mid-line resumes; its config event carries resources."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.events.codec import Event, encode_event, read_events
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch
from model_trainer.core.jobs.report import run_history
from model_trainer.core.jobs.train_job import resume_train, start_train

STEPS = 3


def _cfg(tmp_path: Path) -> ModelTrainConfig:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:4000], encoding="utf-8")
    return train_config(
        model_family="fake",
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=2,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=STEPS,
        warmup_steps=1,
        device="cpu",
        seed=1,
    )


def _stopped_after_one_epoch(cfg: ModelTrainConfig, settings: Settings) -> Path:
    """A run cancelled once its first epoch is recorded: a checkpoint, one epoch of events."""
    first_epoch = threading.Event()

    def watch(event: Event) -> None:
        if is_epoch(event):
            first_epoch.set()

    handle = start_train(cfg, settings, sinks=[CallbackSink(watch)], run_id="torn")
    assert first_epoch.wait(60.0)
    handle.cancel()
    handle.wait(60.0)
    assert handle.state == "cancelled"
    return Path(handle.run_dir)


def test_resume_cuts_a_torn_last_line_before_it_appends(tmp_path: Path, settings: Settings) -> None:
    fast: Settings = {**settings, "progress_interval_s": 0.0}
    folder = _stopped_after_one_epoch(_cfg(tmp_path), fast)
    events_path = folder / "events.jsonl"
    whole = events_path.read_bytes()
    before = read_events(events_path)
    half = encode_event(before[-2])[:40].encode("utf-8")
    events_path.write_bytes(whole + half)

    resumed = resume_train("torn", fast)
    outcome = resumed.result()

    assert resumed.state == "completed"
    assert outcome["epochs_completed"] == 2
    data = events_path.read_bytes()
    assert data.startswith(whole)
    assert half not in data[len(whole) :]
    after = read_events(events_path)
    assert after[: len(before)] == before
    assert after[len(before) :] == resumed.events
    epochs = [point["epoch"] for point in run_history(after)["epochs"]]
    assert epochs == [1, 2]


def test_a_run_reports_its_resources_in_the_config_event(
    tmp_path: Path, settings: Settings
) -> None:
    handle = start_train({**_cfg(tmp_path), "num_epochs": 1}, {**settings, "num_threads": 1})
    handle.result()
    configs = [event for event in handle.events if is_config(event)]
    assert len(configs) == 1
    config = configs[0]
    page = os.sysconf("SC_PAGE_SIZE")
    assert {key: config.get(key) for key in ("cpu_cores", "memory_mb", "optimal_threads")} == {
        "cpu_cores": os.cpu_count(),
        "memory_mb": page * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "optimal_threads": 1,
    }
    assert config.get("optimal_workers") == 0
    assert [e for e in read_events(Path(handle.run_dir) / "events.jsonl") if is_config(e)] == [
        config
    ]

"""Samples and the probe passage while a run trains: events, resume, report, views."""

from __future__ import annotations

import html
import io
import json
import math
import re
import threading
from pathlib import Path

import IPython.display
import pytest

from model_trainer.core.backends.adapter import create_backend
from model_trainer.core.backends.fake import CAPABILITIES
from model_trainer.core.backends.fake.backend import FAKE_BACKEND_FUNCS
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.schema import train_overlay
from model_trainer.core.contracts.validators import (
    MAX_PROBE_CHARS,
    validate_model_train_config,
)
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import (
    Event,
    EventDecodeError,
    EventEncodeError,
    decode_event,
    encode_event,
    read_events,
)
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.events.trainer_metrics_events import (
    SampleAt,
    TrainerProbeV1,
    TrainerSampleV1,
    is_epoch,
    is_probe,
    is_progress_metrics,
    is_sample,
    make_completed_metrics_event,
    make_probe_event,
    make_sample_event,
)
from model_trainer.core.jobs.evolution import (
    PROBE_CHARS,
    PROMPT_CHARS,
    SAMPLE_TOKENS,
    Evolution,
    evolution_by_epoch,
    last_sample_step,
)
from model_trainer.core.jobs.run_store import EVENTS_FILE, REPORT_FILE
from model_trainer.core.jobs.train_job import resume_train, start_train
from model_trainer.core.training.checkpoint import load_history
from model_trainer.notebook.console import ConsoleSink
from model_trainer.notebook.frames import history_frame_of
from model_trainer.notebook.panel import TrainingPanel

STEPS = 4


def _cfg(tmp_path: Path, **values: object) -> ModelTrainConfig:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:6000], encoding="utf-8")
    fields: dict[str, object] = {
        "model_family": "char_lstm",
        "model_size": "tiny",
        "corpus_path": str(corpus),
        "num_epochs": 2,
        "max_seq_len": 16,
        "batch_size": 8,
        "max_steps_per_epoch": STEPS,
        "warmup_steps": 1,
        "device": "cpu",
        "seed": 3,
    }
    return train_overlay({**fields, **values})


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return {**settings, "progress_interval_s": 0.0}


def _losses(events: list[Event]) -> list[tuple[int, float]]:
    progress = [(e["step"], e["loss"]) for e in events if is_progress_metrics(e)]
    epochs = [
        (e["global_step"], e["train_loss"] + (e["val_loss"] or 0.0)) for e in events if is_epoch(e)
    ]
    return progress + epochs


def _samples(events: list[Event]) -> list[TrainerSampleV1]:
    return [e for e in events if is_sample(e)]


def _probes(events: list[Event]) -> list[TrainerProbeV1]:
    return [e for e in events if is_probe(e)]


def test_samples_and_probes_leave_training_exactly_as_it_was(
    tmp_path: Path, fast: Settings
) -> None:
    watched = start_train(_cfg(tmp_path, sample_every_steps=1), fast, run_id="watched")
    plain = start_train(_cfg(tmp_path, watch_learning=False), fast, run_id="plain")
    watched.result()
    plain.result()
    assert _losses(watched.events) == _losses(plain.events)
    assert _samples(plain.events) == []
    assert _probes(plain.events) == []
    # A sample after every update inside an epoch and at each epoch's end; a probe per epoch.
    samples = _samples(watched.events)
    assert [(s["epoch"], s["step"], s["at"]) for s in samples] == [
        (1, 1, "step"),
        (1, 2, "step"),
        (1, 3, "step"),
        (1, 4, "epoch_end"),
        (2, 5, "step"),
        (2, 6, "step"),
        (2, 7, "step"),
        (2, 8, "epoch_end"),
    ]
    held_out = samples[0]["prompt"]
    assert len(held_out) == PROMPT_CHARS
    assert all(s["prompt"] == held_out for s in samples)
    assert all(0 < len(s["text"]) <= SAMPLE_TOKENS["char"] for s in samples)
    probes = _probes(watched.events)
    assert [(p["epoch"], p["step"]) for p in probes] == [(1, 4), (2, 8)]
    assert all(len(p["text"]) == PROBE_CHARS == len(p["surprisal_bits"]) for p in probes)
    assert probes[0]["text"].startswith(held_out)
    assert probes[1]["bits_per_char"] < probes[0]["bits_per_char"]
    # Every event reached the file as it is in memory: the new types decode strictly.
    on_disk = read_events(Path(watched.run_dir) / EVENTS_FILE)
    assert _samples(on_disk) == samples
    assert _probes(on_disk) == probes


def _cancelled_at(cfg: ModelTrainConfig, settings: Settings, step: int) -> None:
    reached = threading.Event()
    go_on = threading.Event()

    def pause(event: Event) -> None:
        if is_progress_metrics(event) and event["step"] == step:
            reached.set()
            assert go_on.wait(30.0)

    handle = start_train(cfg, settings, run_id="stopped", sinks=[CallbackSink(pause)])
    assert reached.wait(30.0)
    handle.cancel()
    go_on.set()
    assert handle.result()["cancelled"]


def test_a_resumed_run_continues_the_sample_sequence(tmp_path: Path, fast: Settings) -> None:
    cfg = _cfg(tmp_path, sample_every_steps=2, num_epochs=3)
    whole = start_train(cfg, fast, run_id="whole")
    whole.result()
    _cancelled_at(cfg, fast, 6)
    resume_train("stopped", fast).result()
    events = read_events(Path(fast["runs_dir"]) / "stopped" / EVENTS_FILE)
    expected = [(s["epoch"], s["step"], s["at"], s["text"]) for s in _samples(whole.events)]
    assert [(s["epoch"], s["step"], s["at"], s["text"]) for s in _samples(events)] == expected
    assert [p["surprisal_bits"] for p in _probes(events)] == [
        p["surprisal_bits"] for p in _probes(whole.events)
    ]


def test_a_restarted_evolution_draws_no_sample_its_run_already_holds(
    tmp_path: Path, fast: Settings
) -> None:
    handle = start_train(_cfg(tmp_path, sample_every_steps=2), fast, run_id="r")
    handle.result()
    assert last_sample_step(handle.events) == 2 * STEPS
    assert last_sample_step([]) == -1
    prepared = handle.prepared
    assert prepared is not None
    got: list[Event] = []
    evolution = Evolution(
        got.append,
        job_id="r",
        user_id=0,
        cfg=_cfg(tmp_path, sample_every_steps=2, probe_text="spam and eggs"),
        backend=default_registry.get("char_lstm"),
        prepared=prepared,
        settings=fast,
        held_out="The held-out passage",
        loss_unit="char",
        after_step=4,
    )
    prepared["model"].eval()
    for step in (3, 4, 5, 6):
        evolution.updated(step, 2)
    assert [(e["step"], e["prompt"]) for e in _samples(got)] == [(6, "The held-out passage")]
    # The model goes back to the mode it was in.
    assert not prepared["model"].training
    last = load_history(handle.run_dir)[-1]
    evolution.epoch_end({**last, "global_step": 6})
    evolution.epoch_end(last)
    assert [e["type"] for e in got[1:]] == [
        "trainer.metrics.probe.v1",
        "trainer.metrics.sample.v1",
        "trainer.metrics.probe.v1",
    ]
    assert [e["step"] for e in _samples(got)] == [6, 8]
    assert [e["step"] for e in _probes(got)] == [6, 8]
    assert [p["text"] for p in _probes(got)] == ["spam and eggs"] * 2


def test_a_family_that_cannot_sample_or_score_or_no_passage_draws_nothing(
    tmp_path: Path, fast: Settings
) -> None:
    handle = start_train(_cfg(tmp_path, num_epochs=1), fast, run_id="r")
    handle.result()
    prepared = handle.prepared
    assert prepared is not None
    mute = create_backend(
        {
            **FAKE_BACKEND_FUNCS,
            "capabilities": {**CAPABILITIES, "supports_generate": False, "supports_score": False},
        }
    )
    got: list[Event] = []
    last = load_history(handle.run_dir)[-1]
    for backend, held_out in ((mute, "a passage"), (default_registry.get("char_lstm"), "")):
        evolution = Evolution(
            got.append,
            job_id="r",
            user_id=0,
            cfg=_cfg(tmp_path, sample_every_steps=1),
            backend=backend,
            prepared=prepared,
            settings=fast,
            held_out=held_out,
            loss_unit="char",
        )
        evolution.updated(1, 1)
        evolution.epoch_end(last)
    assert got == []


def test_the_sample_and_probe_events_decode_strictly() -> None:
    sample = make_sample_event(
        job_id="j", user_id=1, epoch=1, step=5, at="step", prompt="Hi", text=" there", ts=1.0
    )
    probe = make_probe_event(
        job_id="j", user_id=1, epoch=2, step=8, text="ab", surprisal_bits=[1.234, 3], ts=2.0
    )
    assert probe["surprisal_bits"] == [1.23, 3]
    assert probe["bits_per_char"] == pytest.approx(2.117)
    for event in (sample, probe):
        assert decode_event(encode_event(event)) == event
    # Whole numbers on the wire read back as floats.
    line = encode_event(probe).replace("3.0]", "3]")
    decoded = decode_event(line)
    assert is_probe(decoded)
    assert [type(bits) for bits in decoded["surprisal_bits"]] == [float, float]
    bad: list[tuple[TrainerSampleV1 | TrainerProbeV1, str, object, str]] = [
        (probe, "surprisal_bits", "x", "must be a list of finite numbers, got 'x'"),
        (probe, "surprisal_bits", [True], "must be a list of finite numbers, got [True]"),
        (sample, "at", "end", "field 'at' must be one of 'step', 'epoch_end', got 'end'"),
    ]
    for good, name, value, message in bad:
        with pytest.raises(EventDecodeError, match=re.escape(message)):
            decode_event(json.dumps({**good, name: value}))
    with pytest.raises(EventEncodeError, match="must be a list of finite numbers, got \\[nan\\]"):
        encode_event({**probe, "surprisal_bits": [math.nan]})


def test_the_config_bounds_the_sample_interval_and_the_probe() -> None:
    cfg = train_config()
    with pytest.raises(ModelTrainerError, match="sample_every_steps must be an integer >= 0"):
        validate_model_train_config({**cfg, "sample_every_steps": -1})
    with pytest.raises(
        ModelTrainerError, match=f"probe_text must be at most {MAX_PROBE_CHARS} characters"
    ):
        validate_model_train_config({**cfg, "probe_text": "x" * (MAX_PROBE_CHARS + 1)})


def test_the_report_the_frame_and_the_job_show_the_evolution_by_epoch(
    tmp_path: Path, fast: Settings
) -> None:
    handle = start_train(_cfg(tmp_path, sample_every_steps=3), fast, run_id="shown")
    handle.result()
    rows = evolution_by_epoch(handle.events)
    ends = [s for s in _samples(handle.events) if s["at"] == "epoch_end"]
    probes = _probes(handle.events)
    assert rows == [
        {
            "epoch": epoch,
            "step": epoch * STEPS,
            "prompt": ends[epoch - 1]["prompt"],
            "sample": ends[epoch - 1]["text"],
            "probe": probes[epoch - 1]["text"],
            "probe_bits": probes[epoch - 1]["surprisal_bits"],
            "probe_bits_per_char": probes[epoch - 1]["bits_per_char"],
        }
        for epoch in (1, 2)
    ]
    page = (Path(handle.run_dir) / REPORT_FILE).read_text(encoding="utf-8")
    table = handle.show_evolution()._repr_html_()
    assert table.count("<tr>") == 3
    assert "<h2>How it learned</h2>" in page
    assert table in page
    for row in rows:
        assert html.escape(row["sample"] or "") in table
        assert f"{row['probe_bits_per_char']:.2f} bits/char" in table
    frame = history_frame_of(Path(handle.run_dir))
    records = frame.to_dict("records")
    assert isinstance(records, list)
    assert [r["sample"] for r in records] == [row["sample"] for row in rows]
    assert [r["probe_bits_per_char"] for r in records] == [
        row["probe_bits_per_char"] for row in rows
    ]


def test_a_run_that_does_not_watch_shows_a_note_and_empty_columns(
    tmp_path: Path, fast: Settings
) -> None:
    handle = start_train(_cfg(tmp_path, num_epochs=1, watch_learning=False), fast)
    handle.result()
    assert "No epoch has ended with a sample" in handle.show_evolution()._repr_html_()
    page = (Path(handle.run_dir) / REPORT_FILE).read_text(encoding="utf-8")
    assert "How it learned" not in page
    records = history_frame_of(Path(handle.run_dir)).to_dict("records")
    assert isinstance(records, list)
    assert len(records) == 1
    assert records == [
        {**record, "sample": None, "probe_bits_per_char": None}
        for record in records
        if isinstance(record, dict)
    ]


def _sample(epoch: int, step: int, text: str, at: SampleAt = "epoch_end") -> TrainerSampleV1:
    return make_sample_event(
        job_id="j", user_id=1, epoch=epoch, step=step, at=at, prompt="P<", text=text, ts=0.0
    )


def _probe(epoch: int, step: int, bits: list[float]) -> TrainerProbeV1:
    return make_probe_event(
        job_id="j", user_id=1, epoch=epoch, step=step, text="ab", surprisal_bits=bits, ts=0.0
    )


def test_an_epoch_seen_again_takes_its_latest_sample_and_probe() -> None:
    events: list[Event] = [
        _sample(1, 4, "old"),
        _probe(1, 4, [9.0, 9.0]),
        _sample(2, 6, "mid", at="step"),
        _sample(1, 4, "new"),
        _probe(2, 8, [1.0, 2.0]),
    ]
    assert [(r["epoch"], r["sample"], r["probe_bits"]) for r in evolution_by_epoch(events)] == [
        (1, "new", [9.0, 9.0]),
        (2, None, [1.0, 2.0]),
    ]


def test_the_console_prints_each_sample_once_and_the_panel_shows_the_newest(
    fast: Settings,
) -> None:
    stream = io.StringIO()
    console = ConsoleSink(stream=stream, mininterval=0.0)
    shown: list[object] = []

    def display(obj: object, *, display_id: str | None = None, update: bool = False) -> None:
        shown.append(obj)

    panel = TrainingPanel(
        lambda: None,
        display=display,
        background=False,
        min_redraw_s=0.0,
    )
    events: list[Event] = [
        _sample(1, 2, "first <b>", at="step"),
        _sample(1, 4, "second"),
        _probe(1, 4, [0.5, 8.0]),
    ]
    for event in events:
        console.emit(event)
        panel.emit(event)
        panel.flush()
    assert stream.getvalue().splitlines() == [
        "sample at step 2: [P<]first <b>",
        "sample at step 4: [P<]second",
    ]
    learned = panel.learned.value
    assert "second" in learned
    assert "first" not in learned
    assert '<span style="color: #888">P&lt;</span><span class="mt-sample-text">second<' in learned
    assert "epoch 1: 4.25 bits/char" in learned
    assert 'title="8.00 bits">b</span>' in learned
    panel.emit(
        make_completed_metrics_event(
            job_id="j", user_id=1, loss=1.0, perplexity=math.e, artifact_path="m", ts=0.0
        )
    )
    panel.close()
    final = [obj for obj in shown if isinstance(obj, IPython.display.HTML)]
    assert learned in final[-1].data

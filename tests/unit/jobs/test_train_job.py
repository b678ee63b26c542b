from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path

import pytest

from model_trainer.core.backends.adapter import create_backend
from model_trainer.core.backends.fake.backend import FAKE_BACKEND_FUNCS, FAKE_FORMAT
from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig, PreparedLMModel, TrainOutcome
from model_trainer.core.contracts.tokenizer import TokenizerHandle, TokenizerKind
from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.data.prepare import RunSource
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.sinks import CallbackSink, ListSink
from model_trainer.core.jobs.job_store import new_job_record, read_job, write_job
from model_trainer.core.jobs.report import run_history
from model_trainer.core.jobs.run_lock import writer_state
from model_trainer.core.jobs.run_store import list_runs
from model_trainer.core.jobs.runner import JobHandle
from model_trainer.core.jobs.train_job import (
    resume_train,
    start_train,
)
from model_trainer.core.tokenizers.io import load_tokenizer
from model_trainer.core.training.checkpoint import load_latest_checkpoint
from model_trainer.core.training.dataset import plan_training
from model_trainer.core.training.manifest import (
    build_manifest,
    file_fingerprint,
    read_manifest,
    write_manifest,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEPS = 4


def _corpus(folder: Path, chars: int = 6000) -> str:
    path = folder / "corpus.txt"
    path.write_text(builtin_text()[:chars], encoding="utf-8")
    return str(path)


def _cfg(corpus: str, num_epochs: int = 2) -> ModelTrainConfig:
    return train_config(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        num_epochs=num_epochs,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=STEPS,
        warmup_steps=1,
        device="cpu",
        seed=3,
    )


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return {**settings, "progress_interval_s": 0.0}


def _data_stage(event: Event) -> str | None:
    """The data stage a progress event reports (tokenizer, encoding), else None."""
    if event["type"] == "trainer.job.progress.v1" and not event["message"].startswith("epoch"):
        return event["message"]
    return None


def _cancelled_at_step(
    cfg: ModelTrainConfig, settings: Settings, run_id: str, step: int
) -> JobHandle[TrainOutcome]:
    """A run of ``cfg`` cancelled at global step ``step``, ended."""
    reached = threading.Event()
    go_on = threading.Event()

    def pause(event: Event) -> None:
        if event["type"] == "trainer.metrics.progress.v1" and event["step"] == step:
            reached.set()
            assert go_on.wait(30.0)

    handle = start_train(cfg, settings, run_id=run_id, sinks=[CallbackSink(pause)])
    assert reached.wait(30.0)
    handle.cancel()
    go_on.set()
    assert handle.result()["cancelled"]
    return handle


def _types(events: list[Event]) -> list[str]:
    """The event types in order, the data stages' progress left out (see ``_stages``)."""
    return [event["type"] for event in events if _data_stage(event) is None]


def _stages(events: list[Event]) -> list[str]:
    """Each data stage once, in the order the events report them."""
    return list(dict.fromkeys(stage for event in events if (stage := _data_stage(event))))


FRESH_STAGES = ["training the char tokenizer", "encoding the train split", "encoding the val split"]
AFTER_TRAINING = [
    f"after training: {piece}" for piece in ("closing score", "sample", "curves.png", "report.html")
]
EPOCH = [
    *["trainer.metrics.progress.v1"] * STEPS,
    "trainer.metrics.epoch.v1",
    "trainer.metrics.sample.v1",
    "trainer.metrics.probe.v1",
    "trainer.job.progress.v1",
]


def test_train_job_runs_in_the_background_and_records_the_run(
    tmp_path: Path, fast: Settings
) -> None:
    sink = ListSink()
    handle = start_train(_cfg(_corpus(tmp_path)), fast, sinks=[sink], run_id="run-a")
    assert handle.run_id == "run-a"
    assert handle.job_id == "run-a"
    folder = Path(fast["runs_dir"]) / "run-a"
    assert handle.run_dir == str(folder)
    outcome = handle.result()
    assert handle.state == "completed"
    assert not outcome["cancelled"]
    assert outcome["epochs_completed"] == 2
    assert outcome["steps"] == 2 * STEPS
    assert outcome["loss_unit"] == "char"
    assert outcome["out_dir"] == str(folder)
    assert handle.prepared is not None
    assert handle.prepared["model_family"] == "char_lstm"
    assert _types(sink.events) == [
        "trainer.job.started.v1",
        "trainer.metrics.config.v1",
        *EPOCH,
        *EPOCH,
        "trainer.metrics.completed.v1",
        "trainer.job.completed.v1",
    ]
    assert _stages(sink.events) == [*FRESH_STAGES, *AFTER_TRAINING]
    assert read_events(folder / "events.jsonl") == sink.events
    (config,) = [event for event in sink.events if event["type"] == "trainer.metrics.config.v1"]
    assert config == {
        **config,
        "model_family": "char_lstm",
        "model_size": "tiny",
        "total_epochs": 2,
        "steps_per_epoch": STEPS,
        "device": "cpu",
        "precision": "fp32",
        "loss_unit": "char",
        "tokenizer_kind": "char",
        "chars_per_token": 1.0,
    }
    completed = sink.events[-1]
    assert completed == {**completed, "result_id": str(folder / "model")}
    names = sorted(path.name for path in folder.iterdir())
    assert names == [
        "checkpoint",
        "curves.png",
        "events.jsonl",
        "job.json",
        "manifest.json",
        "model",
        "report.html",
        "tokenizer.json",
        "writer.lock",
    ]
    assert (folder / "curves.png").read_bytes().startswith(PNG_MAGIC)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert "validation bits per character" in page
    assert "<script" not in page
    assert load_tokenizer(str(folder / "tokenizer.json")).kind == "char"
    record = read_job(folder)
    assert (record["state"], record["epochs_done"], record["error_code"]) == ("completed", 2, None)
    assert record["last_val_loss"] == outcome["val_loss"]
    assert read_manifest(str(folder))["ended_at"] is not None
    assert [run["state"] for run in list_runs(fast)] == ["completed"]


def test_cancel_mid_epoch_keeps_history_and_checkpoint(tmp_path: Path, fast: Settings) -> None:
    reached = threading.Event()
    cancelled = threading.Event()

    def pause_in_second_epoch(event: Event) -> None:
        if event["type"] == "trainer.metrics.progress.v1" and event["step"] == STEPS + 1:
            reached.set()
            assert cancelled.wait(10.0)

    sink = ListSink()
    cfg = _cfg(_corpus(tmp_path), num_epochs=3)
    handle = start_train(cfg, fast, sinks=[sink, CallbackSink(pause_in_second_epoch)])
    assert reached.wait(30.0)
    during = handle.state
    assert during == "running"
    canceller = threading.Thread(target=handle.cancel)
    canceller.start()
    canceller.join()
    cancelled.set()
    outcome = handle.result()
    assert outcome["cancelled"]
    assert outcome["epochs_completed"] == 1
    assert outcome["steps"] == STEPS + 1
    assert handle.state == "cancelled"
    assert handle.error is not None
    assert handle.error.code == "TRAINING_CANCELLED"
    expected = [
        "trainer.job.started.v1",
        "trainer.metrics.config.v1",
        *EPOCH,
        "trainer.metrics.progress.v1",
        "trainer.job.failed.v1",
    ]
    assert _types(handle.events) == expected
    folder = Path(handle.run_dir)
    assert _types(read_events(folder / "events.jsonl")) == expected
    failed = handle.events[-1]
    assert failed == {**failed, "code": "TRAINING_CANCELLED", "error_kind": "user"}
    checkpoint = load_latest_checkpoint(str(folder / "checkpoint"))
    assert checkpoint is not None
    assert checkpoint["meta"]["position"]["global_step"] == STEPS + 1
    record = read_job(folder)
    assert (record["state"], record["error_code"]) == ("cancelled", "TRAINING_CANCELLED")
    assert not (folder / "model").exists()

    resumed = resume_train(handle.run_id, fast)
    final = resumed.result()
    assert final["epochs_completed"] == 3
    assert resumed.state == "completed"
    history = run_history(read_events(folder / "events.jsonl"))
    assert [step for step, _ in history["steps"]] == list(range(1, 3 * STEPS + 1))
    assert [point["epoch"] for point in history["epochs"]] == [1, 2, 3]

    straight = start_train(cfg, fast, run_id="straight").result()
    assert straight["loss"] == final["loss"]
    assert straight["val_loss"] == final["val_loss"]
    with pytest.raises(ModelTrainerError) as raised:
        resume_train(handle.run_id, fast)
    assert raised.value.code == "INVALID_CONFIG"
    assert "is completed" in raised.value.message


def test_a_bad_corpus_is_refused_before_the_run_folder_is_made(
    tmp_path: Path, settings: Settings
) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\t\n", encoding="utf-8")
    cases = [
        (str(tmp_path / "missing.txt"), 0.1, "CORPUS_NOT_FOUND"),
        (str(blank), 0.1, "CORPUS_EMPTY"),
        (_corpus(tmp_path, chars=1), 0.9, "CORPUS_EMPTY"),
    ]
    for corpus, val_fraction, code in cases:
        with pytest.raises(ModelTrainerError) as raised:
            start_train({**_cfg(corpus), "val_fraction": val_fraction}, settings, run_id="bad")
        assert raised.value.code == code
        assert not (Path(settings["runs_dir"]) / "bad").exists()
    good = start_train(_cfg(_corpus(tmp_path)), settings, run_id="bad")
    assert good.result()["epochs_completed"] == 2


def test_huge_learning_rate_fails_with_nan_loss(tmp_path: Path, settings: Settings) -> None:
    cfg: ModelTrainConfig = {
        **_cfg(_corpus(tmp_path)),
        "learning_rate": 1e30,
        "grad_clip": 0.0,
        "warmup_steps": 0,
    }
    handle = start_train(cfg, {**settings, "num_threads": 1})
    with pytest.raises(ModelTrainerError) as raised:
        handle.result()
    assert raised.value.code == "TRAINING_NAN_LOSS"
    assert handle.state == "failed"
    assert handle.events[-1] == {**handle.events[-1], "code": "TRAINING_NAN_LOSS"}
    assert read_job(Path(handle.run_dir))["error_code"] == "TRAINING_NAN_LOSS"


def test_start_checks_before_anything_is_written(tmp_path: Path, settings: Settings) -> None:
    corpus = _corpus(tmp_path)
    good = _cfg(corpus)
    cases: list[tuple[ModelTrainConfig, str | None, str]] = [
        ({**good, "model_family": "nope"}, None, "MODEL_NOT_FOUND"),
        ({**good, "model_size": "huge"}, None, "INVALID_MODEL_SIZE"),
        ({**good, "num_epochs": 0}, None, "INVALID_CONFIG"),
        (good, "../escape", "INVALID_CONFIG"),
        ({**good, "device": "cuda"}, None, "CUDA_NOT_AVAILABLE"),
    ]
    for cfg, run_id, code in cases:
        with pytest.raises(ModelTrainerError) as raised:
            start_train(cfg, settings, run_id=run_id)
        assert raised.value.code == code
    assert not Path(settings["runs_dir"]).exists()
    (Path(settings["runs_dir"]) / "taken").mkdir(parents=True)
    with pytest.raises(ModelTrainerError, match="run_id 'taken' already exists"):
        start_train(_cfg(corpus), settings, run_id="taken")


def test_a_live_writer_is_never_called_dead_and_a_second_one_is_refused(
    tmp_path: Path, fast: Settings
) -> None:
    with pytest.raises(ModelTrainerError) as missing:
        resume_train("ghost", fast)
    assert missing.value.code == "MODEL_NOT_FOUND"
    paused = threading.Event()
    go_on = threading.Event()

    def pause_at_step_two(event: Event) -> None:
        if event["type"] == "trainer.metrics.progress.v1" and event["step"] == 2:
            paused.set()
            assert go_on.wait(30.0)

    cfg = _cfg(_corpus(tmp_path), num_epochs=3)
    handle = start_train(cfg, fast, run_id="live", sinks=[CallbackSink(pause_at_step_two)])
    assert paused.wait(30.0)
    folder = Path(handle.run_dir)
    long_silent: Settings = {**fast, "heartbeat_timeout_s": 0.001}
    later = time.time() + 3600.0
    assert [run["state"] for run in list_runs(long_silent, now=later)] == ["running"]
    with pytest.raises(ModelTrainerError) as live:
        resume_train("live", long_silent)
    assert live.value.code == "INVALID_CONFIG"
    assert f"is being written by process {os.getpid()}" in live.value.message
    assert str(folder / "writer.lock") in live.value.message
    assert read_job(folder)["state"] == "running"
    go_on.set()
    assert handle.result()["epochs_completed"] == 3
    assert writer_state(folder) == "gone"
    assert [run["state"] for run in list_runs(fast)] == ["completed"]


def test_a_run_marked_active_whose_lock_is_free_is_dead_at_once(
    tmp_path: Path, fast: Settings
) -> None:
    cfg = _cfg(_corpus(tmp_path), num_epochs=3)
    cancelled = _cancelled_at_step(cfg, fast, "lost", 2)
    folder = Path(cancelled.run_dir)
    # What a killed writer leaves: job.json still active, its heartbeat fresh, no lock held.
    write_job(folder, {**read_job(folder), "state": "running", "heartbeat_at": time.time()})
    patient: Settings = {**fast, "heartbeat_timeout_s": 3600.0}
    (run,) = list_runs(patient)
    assert run["state"] == "failed"
    record = read_job(folder)
    assert record["error_code"] == "INTERNAL_ERROR"
    assert "ended without recording an end: nobody holds the run's lock" in (
        record["error_message"] or ""
    )
    write_job(folder, {**record, "state": "running", "heartbeat_at": time.time()})
    assert resume_train("lost", patient).result()["epochs_completed"] == 3


def test_resume_refuses_a_changed_corpus_or_tokenizer(tmp_path: Path, fast: Settings) -> None:
    corpus = _corpus(tmp_path)
    cfg = _cfg(corpus, num_epochs=3)
    handle = _cancelled_at_step(cfg, fast, "data", 2)
    folder = Path(handle.run_dir)
    manifest = read_manifest(str(folder))
    text = Path(corpus).read_text(encoding="utf-8")
    assert manifest.get("corpus_fingerprint") == RunSource(cfg, fast).fingerprint
    written = os.stat(corpus)
    tokenizer = folder / "tokenizer.json"
    assert manifest.get("tokenizer_fingerprint") == file_fingerprint(tokenizer)

    Path(corpus).write_text(text.replace("e", "E", 1), encoding="utf-8")
    with pytest.raises(ModelTrainerError) as corpus_changed:
        resume_train("data", fast)
    assert corpus_changed.value.code == "MODEL_INCOMPATIBLE"
    message = corpus_changed.value.message
    assert f"the corpus {corpus!r} changed" in message
    assert manifest.get("corpus_fingerprint", "") in message
    assert RunSource(cfg, fast).fingerprint in message
    # A corpus file is known by its path, size and modification time, as the token cache knows it.
    Path(corpus).write_text(text, encoding="utf-8")
    os.utime(corpus, ns=(written.st_atime_ns, written.st_mtime_ns))

    kept = tokenizer.read_bytes()
    tokenizer.write_bytes(kept.replace(b'"kind"', b'"kind" ', 1))
    with pytest.raises(ModelTrainerError) as tokenizer_changed:
        resume_train("data", fast)
    assert tokenizer_changed.value.code == "MODEL_INCOMPATIBLE"
    assert "its tokenizer.json changed" in tokenizer_changed.value.message
    tokenizer.unlink()
    with pytest.raises(
        ModelTrainerError, match=r"tokenizer_fingerprint was sha256:[0-9a-f]+, now missing"
    ):
        resume_train("data", fast)
    tokenizer.write_bytes(kept)
    assert writer_state(folder) == "gone"

    # A manifest from before the fingerprints: the data is unknown, and the run resumes.
    old: dict[str, object] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del old["corpus_fingerprint"], old["tokenizer_fingerprint"]
    (folder / "manifest.json").write_text(json.dumps(old), encoding="utf-8")
    Path(corpus).write_text(text.replace("e", "E", 1), encoding="utf-8")
    assert resume_train("data", fast).result()["epochs_completed"] == 3


def test_a_run_resumes_on_the_device_it_is_given(tmp_path: Path, fast: Settings) -> None:
    cfg: ModelTrainConfig = {**_cfg(_corpus(tmp_path)), "device": "auto"}
    _cancelled_at_step(cfg, fast, "moved", 2)
    with pytest.raises(ModelTrainerError) as absent:
        resume_train("moved", fast, device="cuda:7")
    assert absent.value.code == "CUDA_NOT_AVAILABLE"
    assert "'cuda:7'" in absent.value.message
    with pytest.raises(ModelTrainerError, match=r"device must be one of .*, got 'gpu'"):
        resume_train("moved", fast, device="gpu")
    events = ListSink()
    assert (
        resume_train("moved", fast, device="cpu", sinks=[events]).result()["epochs_completed"] == 2
    )
    assert [e.get("device") for e in events.events if e["type"] == "trainer.metrics.config.v1"] == [
        "cpu"
    ]
    assert read_manifest(str(Path(fast["runs_dir"]) / "moved"))["config"]["device"] == "auto"


def test_a_cancel_before_the_first_checkpoint_says_there_is_nothing_to_resume(
    tmp_path: Path, fast: Settings
) -> None:
    handle = start_train(_cfg(_corpus(tmp_path)), fast, run_id="early")
    handle.cancel()
    outcome = handle.result()
    assert outcome["cancelled"]
    assert outcome["steps"] == 0
    assert handle.error is not None
    assert handle.error.message == (
        "training of run 'early' was cancelled after 0 of 2 epochs (step 0), before its first "
        "checkpoint: there is nothing to resume; start anew"
    )
    with pytest.raises(ModelTrainerError, match="no checkpoint to resume from"):
        resume_train("early", fast)


def test_run_without_validation_split_still_reports(tmp_path: Path, fast: Settings) -> None:
    cfg: ModelTrainConfig = {**_cfg(_corpus(tmp_path), num_epochs=1), "val_fraction": 0.0}
    handle = start_train(cfg, fast)
    outcome = handle.result()
    assert outcome["val_loss"] is None
    assert "trainer.metrics.eval.v1" not in _types(handle.events)
    page = (Path(handle.run_dir) / "report.html").read_text(encoding="utf-8")
    assert "<th>validation bits per character</th><td>n/a</td>" in page


def test_resume_needs_the_world_size_the_run_started_with(
    tmp_path: Path, settings: Settings
) -> None:
    folder = Path(settings["runs_dir"]) / "pair"
    cfg = _cfg(_corpus(tmp_path))
    write_manifest(
        str(folder),
        build_manifest(run_id="pair", config=cfg, device="cpu", precision="fp32", world_size=2),
    )
    write_job(folder, {**new_job_record(run_id="pair", job_id="pair", kind="train", now=0.0)})
    assert read_manifest(str(folder))["world_size"] == 2
    with pytest.raises(ModelTrainerError) as raised:
        resume_train("pair", settings)
    assert raised.value.code == "MODEL_INCOMPATIBLE"
    assert "world_size=2" in raised.value.message
    with pytest.raises(ModelTrainerError, match="no checkpoint"):
        resume_train("pair", settings, world_size=2)
    assert read_job(folder)["state"] == "failed"


def test_bits_per_char_and_the_training_plan() -> None:
    assert bits_per_char(math.log(2.0), "char", 3.0) == pytest.approx(1.0)
    assert bits_per_char(3 * math.log(2.0), "token", 3.0) == pytest.approx(1.0)
    cfg = train_config(
        max_seq_len=10, batch_size=4, max_steps_per_epoch=0, grad_accum_steps=2, num_epochs=3
    )
    # 10 windows, 3 batches, 2 updates an epoch
    assert plan_training(101, cfg) == {
        "batches_per_epoch": 3,
        "updates_per_epoch": 2,
        "total_updates": 6,
    }
    assert plan_training(5, cfg)["updates_per_epoch"] == 0
    assert plan_training(101, {**cfg, "max_steps_per_epoch": 1})["updates_per_epoch"] == 1
    assert plan_training(101, cfg, world_size=2)["batches_per_epoch"] == 2
    assert json.dumps(cfg)


def test_validations_inside_an_epoch_are_eval_events_as_they_happen(
    tmp_path: Path, fast: Settings
) -> None:
    cfg: ModelTrainConfig = {
        **_cfg(_corpus(tmp_path)),
        "eval_every_steps": 3,
        "watch_learning": False,
    }
    handle = start_train(cfg, fast)
    handle.result()
    metrics = [e for e in handle.events if e["type"].startswith("trainer.metrics.")]
    shown = [
        (e["type"].split(".")[2], e.get("global_step", e.get("step")), e.get("epoch"))
        for e in metrics
        if e["type"] != "trainer.metrics.config.v1"
    ]
    # 4 steps an epoch, a validation every 3: at step 3 (epoch 1) and step 6 (epoch 2); the
    # validations that close epochs are in their epoch events.
    assert shown == [
        ("progress", 1, 1),
        ("progress", 2, 1),
        ("progress", 3, 1),
        ("eval", 3, 1),
        ("progress", 4, 1),
        ("epoch", 4, 1),
        ("progress", 5, 2),
        ("progress", 6, 2),
        ("eval", 6, 2),
        ("progress", 7, 2),
        ("progress", 8, 2),
        ("epoch", 8, 2),
        ("completed", None, None),
    ]
    evals = [e for e in metrics if e["type"] == "trainer.metrics.eval.v1"]
    for event in evals:
        assert event == {
            **event,
            "loss_unit": "char",
            "val_perplexity": pytest.approx(math.exp(event["val_loss"])),
        }


class CountingTokenizer:
    """A run's tokenizer, counting the characters it is asked to encode."""

    def __init__(self, inner: TokenizerHandle) -> None:
        self.inner = inner
        self.texts: list[int] = []

    def encode(self, text: str) -> list[int]:
        self.texts.append(len(text))
        return self.inner.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids)

    @property
    def kind(self) -> TokenizerKind:
        return self.inner.kind

    @property
    def tokenizer_id(self) -> str:
        return self.inner.tokenizer_id

    @property
    def vocab_size(self) -> int:
        return self.inner.vocab_size

    @property
    def eos_id(self) -> int:
        return self.inner.eos_id

    @property
    def pad_id(self) -> int:
        return self.inner.pad_id

    @property
    def unk_id(self) -> int | None:
        return self.inner.unk_id

    def encode_offsets(self, text: str) -> list[tuple[int, int, int]]:
        return self.inner.encode_offsets(text)

    def id_to_text(self, token_id: int) -> str:
        return self.inner.id_to_text(token_id)

    def save(self, path: str) -> None:
        self.inner.save(path)


def test_the_corpus_is_encoded_once_per_run(settings: Settings) -> None:
    counters: list[CountingTokenizer] = []

    def counted(cfg: ModelTrainConfig, s: Settings, tok: TokenizerHandle) -> PreparedLMModel:
        prepared = FAKE_FORMAT.prepare(cfg, s, tok)
        counter = CountingTokenizer(prepared["tokenizer"])
        counters.append(counter)
        return {**prepared, "tokenizer": counter}

    registry = ModelRegistry({})
    registry.add(create_backend({**FAKE_BACKEND_FUNCS, "prepare": counted}))
    cfg = train_config(
        model_family="fake",
        model_size="tiny",
        max_seq_len=16,
        batch_size=8,
        num_epochs=2,
        max_steps_per_epoch=3,
        eval_every_steps=1,
        device="cpu",
    )
    first = start_train(cfg, settings, run_id="once", registry=registry)
    first.result()
    again = start_train(cfg, settings, run_id="again", registry=registry)
    again.result()
    fresh, cached = counters
    # Each character of the corpus is encoded once, by the first run only; after it both
    # runs encode the same few texts for their reports (a scored snippet, a prompt).
    report = cached.texts
    assert sum(report) < 1000
    assert fresh.texts[len(fresh.texts) - len(report) :] == report
    assert sum(fresh.texts[: len(fresh.texts) - len(report)]) == len(builtin_text())
    assert _stages(first.events) == [*FRESH_STAGES, *AFTER_TRAINING]
    assert _stages(again.events) == AFTER_TRAINING

"""Each boundary a user crosses validates a config once and checks a capability once.

The validators are wrapped where every module holds them, so each real call is counted;
the registry counts its own ``require`` calls. Nothing else is replaced.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

import model_trainer as mt
from model_trainer.core.backends.family import Capability
from model_trainer.core.backends.registry import BUILTIN_BACKENDS, ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts import validators
from model_trainer.core.contracts.model import BackendCapabilities
from model_trainer.core.contracts.schema import generate_overlay, score_overlay, train_overlay
from model_trainer.core.distributed.rank import TrainJob, distributed_train
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.events.trainer_metrics_events import is_epoch
from model_trainer.core.jobs.generate_job import start_generate
from model_trainer.core.jobs.score_job import start_score
from model_trainer.core.jobs.train_job import resume_train, start_train

CHECKS = ("validate_model_train_config", "validate_score_config", "validate_generate_config")


class CountingRegistry(ModelRegistry):
    """The built-in families; each ``require`` is noted with its family and capability."""

    def __init__(self) -> None:
        super().__init__(dict(BUILTIN_BACKENDS.items()))
        self.required: list[str] = []

    def require(self, name: str, capability: Capability) -> BackendCapabilities:
        """Note the call, then check as the registry does."""
        self.required.append(f"{name} {capability}")
        return super().require(name, capability)


def _holders(name: str) -> list[ModuleType]:
    original = getattr(validators, name)
    return [
        module
        for module_name, module in list(sys.modules.items())
        if module_name.startswith("model_trainer") and getattr(module, name, None) is original
    ]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each validator ran since the test began."""
    counts = dict.fromkeys(CHECKS, 0)
    for name in CHECKS:
        original: object = getattr(validators, name)

        def counting(*args: object, _name: str = name, _original: object = original) -> None:
            counts[_name] += 1
            assert callable(_original)
            _original(*args)

        for module in _holders(name):
            monkeypatch.setattr(module, name, counting)
    return counts


def _cfg(corpus: str) -> dict[str, object]:
    return {
        "model_family": "fake",
        "model_size": "tiny",
        "corpus_path": corpus,
        "num_epochs": 1,
        "max_seq_len": 16,
        "batch_size": 8,
        "max_steps_per_epoch": 2,
        "warmup_steps": 1,
        "device": "cpu",
    }


@pytest.fixture
def corpus(tmp_path: Path, corpus_text: str) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text(corpus_text, encoding="utf-8")
    return str(path)


def test_train_score_and_generate_each_check_once(
    tmp_path: Path, corpus: str, counted: dict[str, int]
) -> None:
    runs = str(tmp_path / "runs")
    registry = CountingRegistry()
    job = mt.train(
        model_family="fake",
        model_size="tiny",
        corpus_path=corpus,
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        warmup_steps=1,
        device="cpu",
        run_id="once",
        runs_dir=runs,
        show=False,
        registry=registry,
    )
    job.result()
    assert counted == {
        "validate_model_train_config": 1,
        "validate_score_config": 0,
        "validate_generate_config": 0,
    }
    assert registry.required == ["fake supports_train"]
    model = mt.load_run("once", runs_dir=runs, registry=registry)
    registry.required.clear()
    mt.score(model, text="a text", registry=registry)
    mt.generate(model, prompt_text="a ", max_new_tokens=3, registry=registry)
    assert counted["validate_score_config"] == 1
    assert counted["validate_generate_config"] == 1
    assert registry.required == ["fake supports_score", "fake supports_generate"]
    registry.required.clear()
    mt.score("once", text="a text", runs_dir=runs, registry=registry)
    assert counted["validate_score_config"] == 2
    assert registry.required == ["fake supports_score"]


def test_score_and_generate_jobs_each_check_once(
    tmp_path: Path, corpus: str, settings: Settings, counted: dict[str, int]
) -> None:
    registry = CountingRegistry()
    start_train(train_overlay(_cfg(corpus)), settings, run_id="jobs", registry=registry).result()
    registry.required.clear()
    scored = score_overlay({"text": "a text"})
    sampled = generate_overlay({"prompt_text": "a ", "max_new_tokens": 3})
    start_score("jobs", scored, settings, registry=registry).result()
    start_generate("jobs", sampled, settings, registry=registry).result()
    assert counted == {
        "validate_model_train_config": 1,
        "validate_score_config": 1,
        "validate_generate_config": 1,
    }
    assert registry.required == ["fake supports_score", "fake supports_generate"]


def test_a_distributed_rank_checks_its_config_once(
    tmp_path: Path, corpus: str, settings: Settings, counted: dict[str, int]
) -> None:
    registry = CountingRegistry()
    status = distributed_train(
        train_overlay(_cfg(corpus)),
        settings,
        report=lambda handle: 0 if handle.result()["steps"] > 0 else 1,
        run_id="ranked",
        registry=registry,
        env={"WORLD_SIZE": "1", "MODEL_TRAINER_DIST_TIMEOUT_S": "30"},
        init_method=f"file://{tmp_path / 'store'}",
    )
    assert status == 0
    assert counted["validate_model_train_config"] == 1
    assert registry.required == ["fake supports_distributed"]


def test_a_resumed_run_checks_its_stored_config_once(
    tmp_path: Path, corpus: str, settings: Settings, counted: dict[str, int]
) -> None:
    registry = CountingRegistry()
    jobs: list[TrainJob] = []

    def stop_after_an_epoch(event: Event) -> None:
        if is_epoch(event):
            jobs[0].cancel()

    cfg = train_overlay({**_cfg(corpus), "num_epochs": 3})
    jobs.append(
        start_train(
            cfg,
            settings,
            run_id="paused",
            sinks=[CallbackSink(stop_after_an_epoch)],
            registry=registry,
        )
    )
    jobs[0].wait()
    assert jobs[0].state == "cancelled"
    path = Path(settings["runs_dir"]) / "paused" / "manifest.json"
    written = path.read_text(encoding="utf-8")
    data = json.loads(written)
    data["config"]["batch_size"] = 0
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelTrainerError) as caught:
        resume_train("paused", settings, registry=registry)
    assert caught.value.code == "INVALID_CONFIG"
    assert caught.value.message == "batch_size must be an integer >= 1, got 0"
    path.write_text(written, encoding="utf-8")
    registry.required.clear()
    before = counted["validate_model_train_config"]
    resume_train("paused", settings, registry=registry).result()
    assert counted["validate_model_train_config"] == before + 1
    assert registry.required == ["fake supports_train"]

"""A family written to the spec's ``BackendFunctions`` signatures, used through the registry.

Everything the family uses comes from ``model_trainer.family``; the model (the fake one) and
the configs and tokenizer of the test are borrowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TypedDict

import pytest

import model_trainer as mt
from model_trainer.core.backends.fake import FAKE_SIZES, FakeShape
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.contracts.defaults import generate_config, train_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.family import (
    BUILTIN_BACKENDS,
    BackendFunctions,
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    ModelRegistry,
    ModelTrainConfig,
    ModelTrainerError,
    ModuleFormat,
    PreparedLMModel,
    Settings,
    TokenizerHandle,
    TrainingCallbacks,
    TrainOutcome,
    create_backend,
    default_capabilities,
    evaluate_run,
    family_shape,
    fresh_model,
    generate_forward_only,
    run_training,
    score_forward_only,
)


class SpecConfig(TypedDict):
    """The family's own config: the run's, and the shape its size names."""

    shape: FakeShape
    run: ModelTrainConfig


SPEC_FILES = ModuleFormat(
    "spec", model_type=FakeLM, shape_type=FakeShape, sizes=FAKE_SIZES, build=FakeLM
)


def convert_spec(cfg: ModelTrainConfig) -> SpecConfig:
    return {"shape": family_shape(cfg, FAKE_SIZES), "run": cfg}


def prepare_spec(
    cfg: SpecConfig, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    return fresh_model(cfg["run"], tokenizer, lambda: FakeLM(cfg["shape"], tokenizer.vocab_size))


def train_spec(
    prepared: PreparedLMModel, cfg: SpecConfig, callbacks: TrainingCallbacks
) -> TrainOutcome:
    return run_training(prepared, cfg["run"], callbacks)


def evaluate_spec(run_id: str, cfg: SpecConfig, settings: Settings) -> EvalOutcome:
    return evaluate_run(run_id, cfg["run"], settings, SPEC_FILES.load)


def load_spec(path: str, settings: Settings, tokenizer: TokenizerHandle) -> PreparedLMModel:
    return SPEC_FILES.load(path, settings, tokenizer)


def generate_spec(
    prepared: PreparedLMModel, cfg: GenerateConfig, settings: Settings
) -> GenerateOutcome:
    return generate_forward_only(prepared, cfg, settings)


SPEC_BACKEND_FUNCS: BackendFunctions[SpecConfig] = {
    "name": "spec",
    "convert_config": convert_spec,
    "prepare": prepare_spec,
    "train": train_spec,
    "evaluate": evaluate_spec,
    "score": score_forward_only,
    "generate": generate_spec,
    "save": SPEC_FILES.save,
    "load": load_spec,
}


@pytest.fixture
def spec_registry() -> ModelRegistry:
    registry = ModelRegistry(dict(BUILTIN_BACKENDS.items()))
    registry.add(create_backend(SPEC_BACKEND_FUNCS))
    return registry


def test_a_spec_table_trains_evaluates_scores_and_generates_through_the_registry(
    tmp_path: Path, spec_registry: ModelRegistry
) -> None:
    runs = str(tmp_path / "runs")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:6000], encoding="utf-8")
    assert spec_registry.get_capabilities("spec") == default_capabilities()
    job = mt.train(
        model_family="spec",
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=2,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=4,
        learning_rate=1e-2,
        device="cpu",
        run_id="spec-run",
        runs_dir=runs,
        show=False,
        registry=spec_registry,
    )
    outcome = job.result()
    assert outcome["epochs_completed"] == 2
    assert outcome["val_loss"] is not None
    evaluated = mt.evaluate(job, runs_dir=runs, registry=spec_registry)
    assert evaluated["loss"] == pytest.approx(outcome["val_loss"], rel=0.05)
    model = mt.load_run("spec-run", runs_dir=runs, registry=spec_registry)
    assert model["model_family"] == "spec"
    trained_on = CharTokenizer.load(str(Path(runs) / "spec-run" / "tokenizer.json"))
    assert model["tokenizer_id"] == trained_on.tokenizer_id
    scored = mt.score(model, text="The loop.", registry=spec_registry)
    assert scored["num_chars"] == 9
    assert math.isfinite(scored["loss"])
    sample = mt.generate(
        model, prompt_text="The ", max_new_tokens=5, seed=1, show=False, registry=spec_registry
    )
    assert len(sample["sequences"][0]["tokens"]) == 5


def test_a_table_without_a_streamer_reports_its_tokens_once_sampled(settings: Settings) -> None:
    cfg = train_config(model_family="spec", model_size="tiny", device="cpu")
    tokenizer = CharTokenizer.from_text("abcdef ")
    asked = generate_config(prompt_text="ab", max_new_tokens=4, seed=2, num_return_sequences=2)

    def heard(funcs: BackendFunctions[SpecConfig]) -> list[tuple[int, str, float]]:
        backend = create_backend(funcs)
        prepared = backend.prepare(cfg, settings, tokenizer=tokenizer)
        tokens: list[tuple[int, str, float]] = []
        backend.generate(
            prepared=prepared,
            cfg=asked,
            settings=settings,
            on_token=lambda index, text, prob: tokens.append((index, text, prob)),
        )
        return tokens

    streamed = heard({**SPEC_BACKEND_FUNCS, "stream": generate_forward_only})
    assert {index for index, _, _ in streamed} == {0, 1}
    # The streamer draws the sequences side by side; the replay reports them one by one.
    assert heard(SPEC_BACKEND_FUNCS) == sorted(streamed, key=lambda token: token[0])


def test_a_table_without_load_source_refuses_one(settings: Settings) -> None:
    backend = create_backend(SPEC_BACKEND_FUNCS)
    with pytest.raises(ModelTrainerError) as error:
        backend.load_source(
            "somewhere",
            {"device": "cpu", "dtype": "fp32", "local_files_only": True, "max_seq_len": None},
        )
    assert error.value.code == "MODEL_INCOMPATIBLE"
    assert error.value.message == (
        "model_family 'spec' cannot load a source from outside the runs folder (its table has "
        "no load_source)"
    )


def test_the_loop_needs_the_run_a_job_prepares(settings: Settings) -> None:
    backend = create_backend(SPEC_BACKEND_FUNCS)
    cfg = train_config(model_family="spec", model_size="tiny", device="cpu")
    prepared = backend.prepare(cfg, settings, tokenizer=CharTokenizer.from_text("abc"))
    with pytest.raises(ModelTrainerError) as error:
        backend.train(
            cfg,
            prepared=prepared,
            callbacks={"heartbeat": lambda now: None, "cancelled": lambda: False, "progress": None},
        )
    assert error.value.code == "INVALID_CONFIG"
    assert "callbacks['run']" in error.value.message

"""The notebook functions reach a family only through the registry, capabilities first."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer import api
from model_trainer.core.backends.adapter import create_backend
from model_trainer.core.backends.fake.backend import FAKE_BACKEND_FUNCS
from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.contracts.defaults import generate_config, score_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.eval_job import start_eval
from model_trainer.core.jobs.generate_job import start_generate
from model_trainer.core.jobs.score_job import start_score


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[:6000], encoding="utf-8")
    return str(path)


def _train(family: str, corpus: str, runs: str, registry: ModelRegistry) -> api.TrainJob:
    return api.train(
        model_family=family,
        model_size="tiny",
        corpus_path=corpus,
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        warmup_steps=1,
        device="cpu",
        run_id=f"{family}-run",
        runs_dir=runs,
        show=False,
        registry=registry,
    )


def _refused(error: pytest.ExceptionInfo[ModelTrainerError], family: str, what: str) -> None:
    assert error.value.code == "MODEL_INCOMPATIBLE"
    assert error.value.message == (
        f"model_family {family!r} does not support {what} (supports_{what} is False)"
    )


def test_train_is_refused_before_any_run_folder_exists(
    tmp_path: Path, corpus: str, custom_registry: ModelRegistry
) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(ModelTrainerError) as error:
        _train("frozen", corpus, str(runs), custom_registry)
    _refused(error, "frozen", "train")
    assert not runs.exists()


def test_a_custom_family_scores_and_samples_with_its_own_functions(
    tmp_path: Path, corpus: str, custom_registry: ModelRegistry, calls: list[str]
) -> None:
    runs = str(tmp_path / "runs")
    job = _train("rec", corpus, runs, custom_registry)
    assert job.result()["epochs_completed"] == 1
    calls.clear()  # the run's report scored and sampled too
    loaded = api.load_run("rec-run", runs_dir=runs, registry=custom_registry)
    assert loaded["model_family"] == "rec"
    scores = [
        api.score(model, text="def f(x):", runs_dir=runs, registry=custom_registry)
        for model in ("rec-run", job, loaded)
    ]
    assert scores[1] == scores[0]
    assert scores[2] == scores[0]
    sample = api.generate(
        job, prompt_text="def ", max_new_tokens=4, runs_dir=runs, registry=custom_registry
    )
    assert len(sample["outputs"]) == 1
    assert calls == ["score rec", "score rec", "score rec", "generate rec"]


def test_what_a_family_lacks_is_refused_before_any_work(
    tmp_path: Path, corpus: str, custom_registry: ModelRegistry, calls: list[str]
) -> None:
    runs = str(tmp_path / "runs")
    job = _train("mute", corpus, runs, custom_registry)
    job.wait()
    assert calls == []
    report = (Path(runs) / "mute-run" / "report.html").read_text(encoding="utf-8")
    assert "(mute does not sample)" in report
    for model in ("mute-run", job):
        with pytest.raises(ModelTrainerError) as scored:
            api.score(model, text="x", runs_dir=runs, registry=custom_registry)
        _refused(scored, "mute", "score")
        with pytest.raises(ModelTrainerError) as sampled:
            api.generate(model, prompt_text="x", runs_dir=runs, registry=custom_registry)
        _refused(sampled, "mute", "generate")
        with pytest.raises(ModelTrainerError) as evaluated:
            api.evaluate(model, runs_dir=runs, registry=custom_registry)
        _refused(evaluated, "mute", "evaluate")
    settings = with_overrides(load_settings(), runs_dir=runs)
    with pytest.raises(ModelTrainerError) as score_job:
        start_score("mute-run", score_config(text="x"), settings, registry=custom_registry)
    _refused(score_job, "mute", "score")
    with pytest.raises(ModelTrainerError) as generate_job:
        start_generate(
            "mute-run", generate_config(prompt_text="x"), settings, registry=custom_registry
        )
    _refused(generate_job, "mute", "generate")
    with pytest.raises(ModelTrainerError) as eval_job:
        start_eval("mute-run", settings, registry=custom_registry)
    _refused(eval_job, "mute", "evaluate")
    cfg = {"model_family": "mute", "model_size": "tiny", "corpus_path": corpus}
    with pytest.raises(ModelTrainerError) as launched:
        api.launch_distributed(cfg, runs_dir=runs, show=False, registry=custom_registry)
    _refused(launched, "mute", "distributed")
    assert calls == []
    assert [run["run_id"] for run in api.list_runs(runs_dir=runs)] == ["mute-run"]


def test_resume_is_refused_for_a_family_that_cannot_train(
    tmp_path: Path, custom_registry: ModelRegistry
) -> None:
    runs = str(tmp_path / "runs")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a small corpus, " * 100, encoding="utf-8")
    stopped = _train("rec", str(corpus), runs, custom_registry)
    stopped.cancel()
    stopped.wait()
    assert stopped.state == "cancelled"
    frozen = ModelRegistry({})
    frozen.add(
        create_backend(
            {
                **FAKE_BACKEND_FUNCS,
                "name": "rec",
                "capabilities": custom_registry.get_capabilities("frozen"),
            }
        )
    )
    with pytest.raises(ModelTrainerError) as error:
        api.resume("rec-run", runs_dir=runs, show=False, registry=frozen)
    _refused(error, "rec", "train")

from __future__ import annotations

import importlib
import inspect
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

import model_trainer
from model_trainer import api, experiment_api, view_api
from model_trainer.core.contracts.model import GenerateConfig, ModelTrainConfig, ScoreConfig
from model_trainer.core.contracts.schema import (
    GENERATE_FIELDS,
    SCORE_FIELDS,
    TRAIN_FIELDS,
    Field,
    field_types,
)
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ConfigError, ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.sinks import CallbackSink, ListSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEPS = 3
SNIPPET = "def f(x):\n    return x + 1\n"

NOTEBOOK_API = [
    "builtin_text",
    "clear_cache",
    "compare_runs",
    "compare_scores",
    "evaluate",
    "generate",
    "history_frame",
    "launch_distributed",
    "list_runs",
    "load_model",
    "load_run",
    "lr_find",
    "open_scores",
    "resume",
    "resume_distributed",
    "resume_sweep",
    "runs_frame",
    "score",
    "score_corpus",
    "score_frame",
    "show_comparison",
    "show_curves",
    "show_evolution",
    "show_generation",
    "show_lr_find",
    "show_score",
    "show_spans",
    "split_text",
    "surprisal_by",
    "surprising_spans",
    "sweep",
    "train",
    "train_tokenizer",
    "where_beats",
]


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text(builtin_text()[:6000], encoding="utf-8")
    return str(path)


@pytest.fixture
def runs(tmp_path: Path) -> str:
    return str(tmp_path / "runs")


def _train(
    corpus: str, runs: str, *, num_epochs: int = 2, show: bool = False, **kinds: str
) -> api.TrainJob:
    tokenizer = kinds.get("tokenizer_kind", "char")
    return api.train(
        model_family="fake",
        model_size="tiny",
        corpus_path=corpus,
        tokenizer_kind="bpe" if tokenizer == "bpe" else "char",
        vocab_size=300,
        num_epochs=num_epochs,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=STEPS,
        warmup_steps=1,
        device="cpu",
        seed=1,
        run_id=kinds.get("run_id"),
        runs_dir=runs,
        show=show,
    )


def test_the_package_exports_exactly_the_notebook_api() -> None:
    assert model_trainer.__all__ == ["ConfigError", "ModelTrainerError", *NOTEBOOK_API]
    assert model_trainer.ModelTrainerError is ModelTrainerError
    assert model_trainer.ConfigError is ConfigError
    for name in NOTEBOOK_API:
        home = importlib.import_module(f"model_trainer.{model_trainer.HOMES.get(name, 'api')}")
        assert getattr(model_trainer, name) is getattr(home, name)
    unknown = "nope"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(model_trainer, unknown)


KEYWORD_FUNCTIONS: list[tuple[str, tuple[Field, ...], type[object], list[str]]] = [
    (
        "train",
        TRAIN_FIELDS,
        ModelTrainConfig,
        [
            "corpus",
            "val_corpus",
            "run_id",
            "runs_dir",
            "show",
            "unit",
            "sinks",
            "registry",
            "tensorboard",
        ],
    ),
    (
        "lr_find",
        TRAIN_FIELDS,
        ModelTrainConfig,
        [
            "start_lr",
            "end_lr",
            "num_steps",
            "smoothing",
            "diverge_factor",
            "runs_dir",
            "show",
            "unit",
            "sinks",
            "registry",
        ],
    ),
    ("score", SCORE_FIELDS, ScoreConfig, ["runs_dir", "registry"]),
    ("generate", GENERATE_FIELDS, GenerateConfig, ["show", "runs_dir", "registry"]),
]


@pytest.mark.parametrize(("function", "fields", "shape", "extras"), KEYWORD_FUNCTIONS)
def test_keywords_are_the_schema_fields_with_their_defaults_and_types(
    function: str,
    fields: tuple[Field, ...],
    shape: type[object],
    extras: list[str],
) -> None:
    functions = {**vars(api), **vars(experiment_api)}
    parameters = inspect.signature(functions[function], eval_str=True).parameters
    names = [name for name in parameters if name != "model"]
    assert names == [*(field["name"] for field in fields), *extras]
    types = field_types(shape)
    for field in fields:
        parameter = parameters[field["name"]]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        if isinstance(field["default"], list):
            assert list(parameter.default) == field["default"]
            assert parameter.annotation == Sequence[str]
            assert types[field["name"]] == list[str]
        else:
            assert parameter.default == field["default"]
            assert type(parameter.default) is type(field["default"])
            assert parameter.annotation == types[field["name"]]


def test_train_returns_a_handle_and_every_function_reads_the_run(corpus: str, runs: str) -> None:
    job = _train(corpus, runs, run_id="char-run")
    assert job.run_id == "char-run"
    outcome = job.result()
    assert job.state == "completed"
    assert (outcome["epochs_completed"], outcome["steps"]) == (2, 2 * STEPS)
    assert [run["run_id"] for run in api.list_runs(runs_dir=runs)] == ["char-run"]

    evaluated = api.evaluate("char-run", runs_dir=runs)
    assert api.evaluate(job, runs_dir=runs) == evaluated
    assert evaluated["loss"] == pytest.approx(outcome["val_loss"], rel=1e-4)
    assert evaluated["bits_per_char"] == pytest.approx(evaluated["loss"] / math.log(2.0))

    loaded = api.load_run("char-run", runs_dir=runs)
    assert (loaded["model_family"], loaded["model_size"]) == ("fake", "tiny")
    scores = [
        api.score(model, text=SNIPPET, detail_level="per_char", top_k=3, runs_dir=runs)
        for model in ("char-run", job, loaded)
    ]
    assert scores[1] == scores[0]
    assert scores[2] == scores[0]
    per_char = scores[0].get("per_char", [])
    assert "".join(item["char"] for item in per_char) == SNIPPET
    assert len(per_char[0].get("top_k", [])) == 3
    summary = api.score(job, text=SNIPPET)
    assert "per_char" not in summary
    assert summary["bits_per_char"] == pytest.approx(scores[0]["bits_per_char"])

    samples = [
        api.generate(model, prompt_text="def ", max_new_tokens=8, seed=5, runs_dir=runs)
        for model in ("char-run", job, loaded)
    ]
    assert samples[1] == samples[0]
    assert samples[2] == samples[0]
    assert samples[0]["outputs"] == [samples[0]["sequences"][0]["text"]]

    view = view_api.show_score(scores[0], title="snippet")
    assert view.outcome is scores[0]
    assert "snippet" in view.html()
    both = view_api.compare_scores(scores[0], scores[2], labels=("run", "loaded"))
    assert "+0.000 bits/char" in both.html()
    shown = view_api.show_generation(samples[0], prompt="def ")
    assert shown.html() == shown._repr_html_()
    assert "def " in shown.html()
    assert "samples" in shown.html()


def test_show_prints_the_run_outside_a_notebook(
    corpus: str, runs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = _train(corpus, runs, show=True).result()
    assert not outcome["cancelled"]
    err = capsys.readouterr().err
    assert "fake/tiny: 2 epochs x 3 steps" in err
    assert "epoch 2/2: train" in err
    assert "completed: train" in err


def test_generate_can_stream_its_tokens(
    corpus: str, runs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _train(corpus, runs, num_epochs=1)
    quiet = api.generate(job, prompt_text="x", max_new_tokens=6, seed=2)
    capsys.readouterr()
    streamed = api.generate(job, prompt_text="x", max_new_tokens=6, seed=2, show=True)
    assert streamed == quiet
    assert "HTML object" in capsys.readouterr().out


def test_a_stopped_run_resumes_and_its_model_is_usable_meanwhile(corpus: str, runs: str) -> None:
    reached = threading.Event()
    go_on = threading.Event()

    def pause_after_first_epoch(event: Event) -> None:
        if is_epoch(event) and event["epoch"] == 1:
            reached.set()
            assert go_on.wait(10.0)

    job = api.train(
        model_family="fake",
        model_size="tiny",
        corpus_path=corpus,
        num_epochs=3,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=STEPS,
        warmup_steps=1,
        device="cpu",
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(pause_after_first_epoch)],
    )
    assert reached.wait(30.0)
    job.cancel()
    go_on.set()
    stopped = job.result()
    assert stopped["cancelled"]
    assert job.state == "cancelled"
    assert api.score(job, text=SNIPPET)["num_chars"] == len(SNIPPET)
    with pytest.raises(ModelTrainerError) as unsaved:
        api.load_run(job.run_id, runs_dir=runs)
    assert unsaved.value.code == "MODEL_NOT_FOUND"

    sink = ListSink()
    resumed = api.resume(job.run_id, runs_dir=runs, show=True, sinks=[sink])
    assert resumed.run_id == job.run_id
    final = resumed.result()
    assert (final["epochs_completed"], final["cancelled"]) == (3, False)
    assert [event["epoch"] for event in sink.events if is_epoch(event)] == [2, 3]
    assert view_api.show_curves(job.run_id, runs_dir=runs)._repr_png_().startswith(PNG_MAGIC)
    # The whole run's epochs, stopped and resumed; the resumed job's own events, its own.
    whole = view_api.show_evolution(resumed, runs_dir=runs).rows
    assert [row["epoch"] for row in whole] == [1, 2, 3]
    assert resumed.show_evolution().rows == whole[1:]
    curve = api.compare_runs([resumed], runs_dir=runs)["runs"][0]
    assert curve["epochs"] == [1, 2, 3]


def test_a_job_that_failed_before_its_model_has_nothing_to_score(corpus: str, runs: str) -> None:
    job = api.train(
        model_family="gpt2",
        model_size="tiny",
        corpus_path=corpus,
        max_seq_len=100_000,
        device="cpu",
        runs_dir=runs,
        show=False,
    )
    with pytest.raises(ModelTrainerError) as failed:
        api.score(job, text="x")
    assert failed.value.code == "MODEL_NOT_FOUND"
    assert "ended failed before building one" in failed.value.message


def test_compare_runs_puts_a_char_and_a_bpe_run_in_bits_per_char(
    corpus: str, runs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    char = _train(corpus, runs, run_id="char")
    bpe = _train(corpus, runs, run_id="bpe", tokenizer_kind="bpe")
    char.result()
    bpe.result()
    comparison = api.compare_runs(["char", bpe], runs_dir=runs)
    assert capsys.readouterr().out == ""
    char_curve, bpe_curve = comparison["runs"]
    assert (char_curve["run_id"], bpe_curve["run_id"]) == ("char", "bpe")
    assert (char_curve["loss_unit"], char_curve["chars_per_token"]) == ("char", 1.0)
    assert bpe_curve["loss_unit"] == "token"
    assert bpe_curve["tokenizer_kind"] == "bpe"
    events = read_events(Path(runs) / "bpe" / "events.jsonl")
    (config,) = [event for event in events if is_config(event)]
    chars_per_token = config.get("chars_per_token", 0.0)
    assert chars_per_token > 1.0
    assert bpe_curve["chars_per_token"] == chars_per_token
    val = [event["val_loss"] for event in events if is_epoch(event)]
    assert bpe_curve["epochs"] == [1, 2]
    assert bpe_curve["bits_per_char"] == pytest.approx(
        [loss / chars_per_token / math.log(2.0) for loss in val if loss is not None]
    )
    shown = api.compare_runs(["char", "bpe"], runs_dir=runs, show=True)
    assert shown == comparison
    assert "Image object" in capsys.readouterr().out
    view = view_api.show_comparison(comparison)
    assert len(view.figure.axes[0].get_lines()) == 4
    assert view.png().startswith(PNG_MAGIC)


def test_compare_runs_needs_a_run(runs: str) -> None:
    with pytest.raises(ModelTrainerError) as empty:
        api.compare_runs([], runs_dir=runs)
    assert empty.value.code == "INVALID_CONFIG"
    with pytest.raises(ModelTrainerError) as missing:
        api.compare_runs(["nobody"], runs_dir=runs)
    assert missing.value.code == "MODEL_NOT_FOUND"


def test_launch_distributed_checks_its_config_before_starting_torchrun(runs: str) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        api.launch_distributed({"model_sise": "tiny"}, runs_dir=runs)
    assert caught.value.code == "INVALID_CONFIG"
    assert caught.value.message.startswith("config: has unknown field(s) model_sise; known: ")
    with pytest.raises(ModelTrainerError) as counted:
        api.launch_distributed({"model_size": "tiny"}, nproc_per_node=0, runs_dir=runs)
    assert counted.value.message == (
        "nproc_per_node must be an integer >= 1, got 0 (nproc_per_node=0, nnodes=1)"
    )
    assert not Path(runs).exists() or not any(Path(runs).iterdir())


def test_resume_distributed_needs_the_world_size_the_run_started_with(
    corpus: str, runs: str
) -> None:
    job = _train(corpus, runs, run_id="single", num_epochs=1)
    job.result()
    with pytest.raises(ModelTrainerError) as caught:
        api.resume_distributed("single", nproc_per_node=2, runs_dir=runs)
    assert caught.value.code == "MODEL_INCOMPATIBLE"
    assert caught.value.message == (
        "run_id 'single' was trained by world_size=1 processes; resume it on as many, "
        "not nproc_per_node=2 x nnodes=1"
    )

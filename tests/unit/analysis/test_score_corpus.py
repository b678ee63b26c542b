"""``score_corpus``: its tables are ``score`` of each document, kept across a Stop."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from model_trainer import api
from model_trainer.core.analysis.parquet import TableFrame
from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.contracts.model import PreparedLMModel, ScoreOutcome
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import is_job_progress
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.jobs.corpus_job import ScoringJob, ScoringTables
from model_trainer.corpus_api import model_ref, open_scores, score_corpus

LONG = "A much longer document that goes well past the sixteen token context of this model."
DOCS = ["The cat sat.", "", LONG, "Hi there, you!", "x", "Dogs run; cats nap.", "Ok."]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Tiny trained runs: fake ``bpe`` and ``char``, a ``gpt2`` and a char-LSTM ``lstm``."""
    folder = str(tmp_path_factory.mktemp("runs"))
    for run_id, kind in (("bpe", "bpe"), ("char", "char")):
        api.train(
            model_family="fake",
            model_size="tiny",
            tokenizer_kind="bpe" if kind == "bpe" else "char",
            vocab_size=300,
            num_epochs=1,
            max_seq_len=16,
            batch_size=8,
            max_steps_per_epoch=2,
            warmup_steps=1,
            device="cpu",
            seed=1,
            run_id=run_id,
            runs_dir=folder,
            show=False,
        ).result()
    api.train(
        model_family="gpt2",
        model_size="tiny",
        tokenizer_kind="bpe",
        vocab_size=300,
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
        seed=1,
        run_id="gpt2",
        runs_dir=folder,
        show=False,
    ).result()
    api.train(
        model_family="char_lstm",
        model_size="tiny",
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
        run_id="lstm",
        runs_dir=folder,
        show=False,
    ).result()
    return folder


def _jsonl(path: Path, docs: list[str]) -> str:
    lines = [
        json.dumps({"text": doc, "group": index % 2, "label": f"L{index}"})
        for index, doc in enumerate(docs)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)


def _rows(frame: TableFrame) -> list[dict[str, object]]:
    rows = frame.to_dict("records")
    assert isinstance(rows, list)
    return [dict(row) for row in rows if isinstance(row, dict)]


def _float(value: object) -> float:
    assert isinstance(value, float | int)
    return float(value)


def _family(prepared: PreparedLMModel, family: str) -> PreparedLMModel:
    other: PreparedLMModel = {**prepared, "model_family": family}
    return other


def _expected(runs: str, run_id: str, text: str, level: str) -> ScoreOutcome:
    return api.score(
        run_id,
        text=text,
        detail_level="per_word" if level == "per_word" else "per_char",
        top_k=2 if level == "per_char" else None,
        runs_dir=runs,
    )


def _check_tables(runs: str, tables: ScoringTables | ScoringJob, models: dict[str, str]) -> None:
    """Every row of the three tables is ``score``'s figure for its document and model."""
    documents = _rows(tables.frame("documents"))
    words = _rows(tables.frame("words"))
    characters = _rows(tables.frame("characters"))
    assert [(row["model"], row["doc"]) for row in documents] == [
        (name, doc) for name in sorted(models) for doc in range(len(DOCS))
    ]
    for row in documents:
        doc, model = row["doc"], row["model"]
        assert isinstance(doc, int)
        assert isinstance(model, str)
        text = DOCS[doc]
        assert (row["group"], row["label"]) == (doc % 2, f"L{doc}")
        mine_words = [w for w in words if (w["model"], w["doc"]) == (model, doc)]
        mine_chars = [c for c in characters if (c["model"], c["doc"]) == (model, doc)]
        if not text:
            assert (row["chars"], row["tokens"], row["bits"]) == (0, 0, 0.0)
            assert math.isnan(_float(row["bits_per_char"]))
            assert (mine_words, mine_chars) == ([], [])
            continue
        by_word = _expected(runs, models[model], text, "per_word")
        by_char = _expected(runs, models[model], text, "per_char")
        assert (row["chars"], row["tokens"]) == (len(text), by_word["num_tokens"])
        assert _close(_float(row["bits"]), by_word["canonical_bits"])
        assert _close(_float(row["bits_per_char"]), by_word["canonical_bits"] / len(text))
        assert _close(_float(row["char_bits"]), by_word.get("char_bits", math.nan))
        expected_words = by_word.get("per_word", [])
        assert [(w["word"], w["start"], w["end"], w["text"]) for w in mine_words] == [
            (index, w["start"], w["end"], w["word"]) for index, w in enumerate(expected_words)
        ]
        for got, want in zip(mine_words, expected_words, strict=True):
            assert _close(_float(got["bits"]), want["surprisal_bits"])
            assert _close(_float(got["end_bits"]), want["end_bits"])
        expected_chars = list(by_char.get("per_char", []))
        assert [(c["pos"], c["char"], c["rank"], c["token"]) for c in mine_chars] == [
            (pos, c["char"], c["rank"], c["token_index"]) for pos, c in enumerate(expected_chars)
        ]
        for got_char, want_char in zip(mine_chars, expected_chars, strict=True):
            assert _close(_float(got_char["bits"]), want_char["surprisal_bits"])
            tops = want_char.get("top_k", [])
            top_chars = got_char["top_chars"]
            top_bits = got_char["top_bits"]
            assert isinstance(top_chars, Iterable)
            assert isinstance(top_bits, Iterable)
            assert list(top_chars) == [item["text"] for item in tops]
            assert all(
                _close(_float(bits), -math.log2(item["prob"]))
                for bits, item in zip(top_bits, tops, strict=True)
            )
        spaces = [c for c in mine_chars if c["char"] == " "]
        assert all((c["word"], c["in_word"]) == (-1, -1) for c in spaces)
        assert (mine_chars[0]["word"], mine_chars[0]["in_word"]) == (0, 0)


def test_tables_equal_score_of_each_document(runs: str, tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "docs.jsonl", DOCS)
    models = {"bpe": "bpe", "char": "char", "gpt2": "gpt2", "lstm": "lstm"}
    job = score_corpus(
        models,
        source,
        name="both",
        tables=["documents", "words", "characters"],
        top_k=2,
        window_docs=3,
        batch_tokens=40,
        runs_dir=runs,
        show=False,
    )
    outcome = job.result()
    assert (outcome["documents"], outcome["chars"], outcome["cancelled"]) == (
        len(DOCS),
        sum(map(len, DOCS)),
        False,
    )
    for name in models:
        totals = outcome["models"][name]
        assert totals["documents"] == len(DOCS)
        assert _close(totals["bits_per_char"], totals["bits"] / totals["chars"])
    _check_tables(runs, job, models)
    _check_tables(runs, open_scores("both", runs_dir=runs), models)
    listed = {run["run_id"]: run for run in api.list_runs(runs_dir=runs)}
    assert (listed["both"]["kind"], listed["both"]["state"]) == ("scoring", "completed")
    assert listed["both"]["model_family"] == "bpe,char,gpt2,lstm"
    assert listed["bpe"]["kind"] == "training"
    again = score_corpus(
        models,
        source,
        name="both",
        tables=["documents", "words", "characters"],
        top_k=2,
        window_docs=3,
        runs_dir=runs,
        show=False,
    ).result()
    assert again == outcome
    alone = score_corpus(
        models, source, tables=["documents"], batch_tokens=40, runs_dir=runs, show=False
    )
    alone.result()
    detailed = _rows(job.frame("documents"))
    for row, full in zip(_rows(alone.frame("documents")), detailed, strict=True):
        assert (row["doc"], row["model"], row["tokens"]) == (
            full["doc"],
            full["model"],
            full["tokens"],
        )
        assert _close(_float(row["bits"]), _float(full["bits"]))
        assert row["char_bits"] is None or math.isnan(_float(row["char_bits"]))


def test_a_stop_keeps_the_finished_windows_and_a_resume_completes_them(runs: str) -> None:
    docs = [f"Sentence number {index} is here." for index in range(12)]
    handles: list[ScoringJob] = []
    ready = threading.Event()

    def stop_after_first(event: Event) -> None:
        if is_job_progress(event) and event.get("payload", {}).get("documents") == 2:
            ready.wait(60)
            handles[0].stop()

    job = score_corpus(
        "bpe",
        docs,
        name="stopped",
        window_docs=2,
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(stop_after_first)],
    )
    handles.append(job)
    ready.set()
    stopped = job.result()
    assert (stopped["cancelled"], stopped["documents"], job.state) == (True, 2, "cancelled")
    assert [row["doc"] for row in _rows(job.frame("documents"))] == [0, 1]
    folder = Path(runs) / "stopped"
    (folder / "documents" / "part-00000099.parquet").write_bytes(b"torn")
    (folder / "words" / "part-00000099.parquet.tmp").write_bytes(b"torn")
    resumed = score_corpus("bpe", docs, name="stopped", window_docs=2, runs_dir=runs, show=False)
    done = resumed.result()
    assert (done["cancelled"], done["documents"]) == (False, len(docs))
    fresh = score_corpus("bpe", docs, name="fresh", window_docs=2, runs_dir=runs, show=False)
    fresh.result()
    assert _rows(resumed.frame("documents")) == _rows(fresh.frame("documents"))
    assert _rows(resumed.frame("words")) == _rows(fresh.frame("words"))
    assert not (folder / "documents" / "part-00000099.parquet").exists()
    assert not (folder / "words" / "part-00000099.parquet.tmp").exists()


def test_a_family_without_a_batched_forward_scores_each_document_alone(
    runs: str, custom_registry: ModelRegistry, calls: list[str]
) -> None:
    loaded = api.load_run("bpe", runs_dir=runs)
    job = score_corpus(
        _family(loaded, "rec"),
        DOCS[:4],
        tables=["documents", "characters"],
        runs_dir=runs,
        show=False,
        registry=custom_registry,
    )
    outcome = job.result()
    assert calls == ["score rec"] * 3
    characters = _rows(job.frame("characters"))
    assert len(characters) == sum(map(len, DOCS[:4]))
    assert "top_chars" not in characters[0]
    assert list(outcome["models"]) == ["rec"]
    rows = _rows(job.frame("documents"))
    assert [row["doc"] for row in rows] == [0, 1, 2, 3]
    for row in rows[2:]:
        doc = row["doc"]
        assert isinstance(doc, int)
        want = api.score(loaded, text=DOCS[doc])
        assert _close(_float(row["bits"]), want["canonical_bits"])


def test_bf16_runs_on_the_cpu_too(runs: str) -> None:
    outcome = score_corpus(
        "char", DOCS[:1], tables=["documents"], precision="bf16", runs_dir=runs, show=False
    ).result()
    want = api.score("char", text=DOCS[0], runs_dir=runs)
    assert math.isclose(outcome["models"]["char"]["bits"], want["canonical_bits"], rel_tol=0.05)


def test_bad_inputs_are_refused_before_anything_is_written(
    runs: str, tmp_path: Path, custom_registry: ModelRegistry
) -> None:
    source = _jsonl(tmp_path / "docs.jsonl", DOCS)
    before = sorted(path.name for path in Path(runs).iterdir())
    with pytest.raises(ModelTrainerError, match="text_field 'body' is not a column") as field:
        score_corpus("bpe", source, text_field="body", runs_dir=runs, show=False)
    assert field.value.code == "INVALID_CONFIG"
    with pytest.raises(ModelTrainerError, match="tables must be documents"):
        score_corpus("bpe", source, tables=["words"], runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="top_k must be None unless"):
        score_corpus("bpe", source, top_k=2, runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="name must be"):
        score_corpus("bpe", source, name="../x", runs_dir=runs, show=False)
    loaded = api.load_run("bpe", runs_dir=runs)
    with pytest.raises(ModelTrainerError, match="'mute'") as mute:
        score_corpus(
            {"m": _family(loaded, "mute")},
            source,
            runs_dir=runs,
            show=False,
            registry=custom_registry,
        )
    assert mute.value.code == "MODEL_INCOMPATIBLE"
    reserved = tmp_path / "reserved.jsonl"
    reserved.write_text(json.dumps({"text": "a b", "bits": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ModelTrainerError, match="metadata column 'bits'"):
        score_corpus("bpe", str(reserved), runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="holds no documents"):
        score_corpus("bpe", [], runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="not a scoring"):
        score_corpus("bpe", source, name="bpe", runs_dir=runs, show=False)
    assert sorted(path.name for path in Path(runs).iterdir()) == before


def test_a_scoring_stopped_before_its_first_window_has_empty_tables(runs: str) -> None:
    handles: list[ScoringJob] = []
    ready = threading.Event()

    def stop_at_once(event: Event) -> None:
        if is_job_progress(event):
            ready.wait(60)
            handles[0].stop()

    job = score_corpus(
        "bpe",
        DOCS,
        name="empty",
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(stop_at_once)],
    )
    handles.append(job)
    ready.set()
    assert job.result()["documents"] == 0
    assert job.done()
    frame = open_scores("empty", runs_dir=runs).frame("words")
    assert len(frame) == 0
    columns = frame.to_dict("list")
    assert isinstance(columns, dict)
    assert list(columns) == [
        "doc",
        "model",
        "word",
        "start",
        "end",
        "text",
        "bits",
        "end_bits",
    ]
    with pytest.raises(ModelTrainerError, match="table 'characters' was not written"):
        job.frame("characters")
    with pytest.raises(ModelTrainerError, match="show=False"):
        job.show()
    with pytest.raises(ModelTrainerError, match="no scoring") as missing:
        open_scores("nowhere", runs_dir=runs)
    assert missing.value.code == "MODEL_NOT_FOUND"


def test_models_given_as_a_folder_a_train_job_and_named_references(
    runs: str, checkpoints: dict[str, str]
) -> None:
    trained = api.train(
        model_family="fake",
        model_size="tiny",
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=1,
        device="cpu",
        run_id="handle",
        runs_dir=runs,
        show=False,
    )
    folder = checkpoints["gpt2"]
    outcome = score_corpus(
        {"hf": folder, "job": trained}, DOCS[:3], tables=["documents"], runs_dir=runs, show=False
    ).result()
    assert list(outcome["models"]) == ["hf", "job"]
    hf_bits = api.score(api.load_model(folder), text=DOCS[0])["canonical_bits"]
    job_bits = sum(
        api.score("handle", text=doc, runs_dir=runs)["canonical_bits"] for doc in DOCS[:3] if doc
    )
    assert _close(outcome["models"]["job"]["bits"], job_bits)
    alone = score_corpus(folder, DOCS[:1], tables=["documents"], runs_dir=runs, show=False)
    assert _close(alone.result()["models"][Path(folder).name]["bits"], hf_bits)
    by_job = score_corpus(trained, DOCS[:1], tables=["documents"], runs_dir=runs, show=False)
    assert list(by_job.result()["models"]) == ["handle"]
    with pytest.raises(ModelTrainerError, match="must not be empty"):
        score_corpus({"": "bpe"}, DOCS, runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="at least one model"):
        score_corpus({}, DOCS, runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match=r"models\['m'\] is a int, not a run id"):
        model_ref("m", 3)
    assert model_ref("m", trained) is trained


def test_a_resumed_scoring_must_keep_its_source_models_and_tables(runs: str) -> None:
    score_corpus(
        "bpe", DOCS[:2], name="kept", tables=["documents"], runs_dir=runs, show=False
    ).result()
    cases: list[tuple[str, str, list[str]]] = [
        ("another source", "bpe", DOCS[:3]),
        ("started with models", "char", DOCS[:2]),
    ]
    for message, model, docs in cases:
        with pytest.raises(ModelTrainerError, match=message):
            score_corpus(model, docs, name="kept", tables=["documents"], runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="window_docs=2048, got 5"):
        score_corpus(
            "bpe",
            DOCS[:2],
            name="kept",
            tables=["documents"],
            window_docs=5,
            runs_dir=runs,
            show=False,
        )

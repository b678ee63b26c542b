"""The notebook functions of corpus scoring: ``score_corpus`` and ``open_scores``.

``score_corpus`` scores every document of a source with one model or several, on a
background thread, and writes long Parquet tables as it goes (``documents``, ``words`` and,
when asked, ``characters``: ``core/analysis/tables.py``) into a folder under the runs
folder, listed by ``list_runs`` as a scoring. Everything is checked before anything is
written. A scoring stopped (Stop, a killed kernel) goes on where it was when
``score_corpus`` is called again with the same ``name``: finished windows of documents are
kept, the one under way is scored again whole.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeGuard, get_args

from model_trainer.api import TrainJob, load_model, load_run, runs_settings
from model_trainer.core.analysis.folder import (
    SOURCE_FILE,
    SourceInfo,
    create_folder,
    is_scoring,
    new_manifest,
    read_scoring,
)
from model_trainer.core.analysis.records import Record, Records, memory_records, path_records
from model_trainer.core.analysis.scorer import ModelUse
from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.corpus import (
    CORPUS_DEFAULTS,
    CorpusScoreConfig,
    TableName,
    corpus_overlay,
    validate_corpus_config,
)
from model_trainer.core.contracts.model import Precision, PreparedLMModel
from model_trainer.core.data.sources import TextTable, open_source
from model_trainer.core.distributed.corpus_launch import launch_scoring, rank_program
from model_trainer.core.distributed.launcher import torchrun_command
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.faults import writing
from model_trainer.core.jobs.corpus_job import (
    CorpusPlan,
    ScoringJob,
    ScoringTables,
    start_corpus_job,
)
from model_trainer.core.jobs.run_store import run_dir
from model_trainer.core.jobs.runner import JobHandle, ViewFactory, ViewSink
from model_trainer.notebook.frontend import in_notebook
from model_trainer.notebook.scoring_progress import make_scoring_view

CorpusModelRef = str | TrainJob | PreparedLMModel
"""A model to score with: a run id, a Hugging Face folder, a train job's handle, a loaded model."""
CorpusSource = str | Sequence[str] | TextTable
"""A path (anything ``corpus_path`` names), a list of texts, or a ``datasets.Dataset``."""
ResumedField = Literal["text_field", "glob", "dataset_split", "tables", "top_k", "window_docs"]
RESUMED_FIELDS: tuple[ResumedField, ...] = get_args(ResumedField)
"""The fields a resumed scoring must keep (the others change nothing in its tables)."""


def _model(ref: CorpusModelRef, settings: Settings, registry: ModelRegistry) -> PreparedLMModel:
    if isinstance(ref, JobHandle):
        ref.wait()
        return load_run(ref.run_id, runs_dir=settings["runs_dir"], registry=registry)
    if isinstance(ref, str) and Path(ref).is_dir():
        return load_model(ref, registry=registry)
    if isinstance(ref, str):
        return load_run(ref, runs_dir=settings["runs_dir"], registry=registry)
    return ref


def _describe(ref: CorpusModelRef) -> str:
    if isinstance(ref, JobHandle):
        return f"run {ref.run_id}"
    if isinstance(ref, str):
        return str(Path(ref).resolve()) if Path(ref).is_dir() else f"run {ref}"
    return f"loaded {ref['model_family']}/{ref['model_size']} ({ref['tokenizer_id']})"


def _is_loaded(value: Mapping[str, object]) -> TypeGuard[PreparedLMModel]:
    return "model" in value and "tokenizer" in value and "model_family" in value


def model_ref(name: str, value: object) -> CorpusModelRef:
    """``value``, the model ``models[name]``, as a model reference.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for a value that refers to no model.
    """
    if isinstance(value, str | JobHandle):
        return value
    if isinstance(value, dict) and _is_loaded(value):
        return value
    raise ModelTrainerError(
        "INVALID_CONFIG",
        f"models[{name!r}] is a {type(value).__name__}, not a run id, a folder, a train "
        f"job's handle or a loaded model",
    )


def _named(models: CorpusModelRef | Mapping[str, CorpusModelRef]) -> dict[str, CorpusModelRef]:
    if isinstance(models, JobHandle):
        return {models.run_id: models}
    if isinstance(models, str):
        return {Path(models).name or models: models}
    if _is_loaded(models):
        return {models["model_family"]: models}
    if not models:
        raise ModelTrainerError("INVALID_CONFIG", "models must name at least one model, got {}")
    return {str(key): model_ref(str(key), value) for key, value in models.items()}


def _uses(
    refs: dict[str, CorpusModelRef], settings: Settings, registry: ModelRegistry
) -> list[ModelUse]:
    uses: list[ModelUse] = []
    for name, ref in refs.items():
        if not name:
            raise ModelTrainerError("INVALID_CONFIG", f"a model's name must not be empty: {ref!r}")
        prepared = _model(ref, settings, registry)
        registry.require(prepared["model_family"], "supports_score")
        uses.append(
            {"name": name, "prepared": prepared, "backend": registry.get(prepared["model_family"])}
        )
    return uses


def _memory_lines(corpus: Sequence[str] | TextTable, text_field: str) -> Iterator[bytes]:
    for record in memory_records(corpus, text_field):
        yield (json.dumps({text_field: record["text"], **record["meta"]}) + "\n").encode("utf-8")


def _source(
    source: CorpusSource, cfg: CorpusScoreConfig
) -> tuple[Records, SourceInfo, Sequence[str] | TextTable | None]:
    """The records of ``source``, where they come from, and the corpus to save (in memory)."""
    text_field, glob, split = cfg["text_field"], cfg["glob"], cfg["dataset_split"]
    if isinstance(source, str):
        opened = open_source(source, field="source", text_field=text_field, glob=glob, split=split)
        records = path_records(source, text_field=text_field, glob=glob, split=split)
        return records, {"path": source, "fingerprint": opened.fingerprint}, None
    sha = hashlib.sha256()
    for line in _memory_lines(source, text_field):
        sha.update(line)
    info: SourceInfo = {"path": "", "fingerprint": sha.hexdigest()[:16]}
    return lambda: iter(memory_records(source, text_field)), info, source


def _first(records: Records) -> Record:
    for record in records():
        return record
    raise ModelTrainerError("INVALID_CONFIG", "source holds no documents")


def _check_resume(
    folder: Path, cfg: CorpusScoreConfig, info: SourceInfo, models: dict[str, str]
) -> None:
    if not is_scoring(folder):
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"name {folder.name!r} is taken by a run that is not a scoring; pick another name",
        )
    manifest = read_scoring(folder)
    if manifest["source"]["fingerprint"] != info["fingerprint"]:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"scoring {folder.name!r} was started on another source "
            f"({manifest['source']['path'] or 'a corpus in memory'}); pick another name",
        )
    if manifest["models"] != models:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"scoring {folder.name!r} was started with models {manifest['models']}, "
            f"got {models}; pick another name",
        )
    for field in RESUMED_FIELDS:
        if manifest["config"][field] != cfg[field]:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"scoring {folder.name!r} was started with {field}="
                f"{manifest['config'][field]!r}, got {cfg[field]!r}; pick another name",
            )


def _save_source(folder: Path, corpus: Sequence[str] | TextTable, text_field: str) -> None:
    """Keep a corpus given in memory in the scoring's folder, with its metadata."""
    path = folder / SOURCE_FILE
    if not path.is_file():
        with writing(path), path.open("wb") as out:
            out.writelines(_memory_lines(corpus, text_field))


def score_corpus(
    models: CorpusModelRef | Mapping[str, CorpusModelRef],
    source: CorpusSource,
    *,
    name: str | None = CORPUS_DEFAULTS["name"],
    text_field: str = CORPUS_DEFAULTS["text_field"],
    glob: str = CORPUS_DEFAULTS["glob"],
    dataset_split: str = CORPUS_DEFAULTS["dataset_split"],
    tables: Sequence[TableName] = tuple(CORPUS_DEFAULTS["tables"]),
    top_k: int | None = CORPUS_DEFAULTS["top_k"],
    batch_tokens: int = CORPUS_DEFAULTS["batch_tokens"],
    window_docs: int = CORPUS_DEFAULTS["window_docs"],
    precision: Precision = CORPUS_DEFAULTS["precision"],
    runs_dir: str | None = None,
    show: bool = True,
    sinks: Sequence[EventSink] = (),
    nproc: int | None = None,
    registry: ModelRegistry = default_registry,
) -> ScoringJob:
    """Score every document of ``source`` with ``models``; returns the scoring's handle at once.

    ``models`` is one model (a run id, a Hugging Face model folder, a train job's handle, a
    model from ``load_run``/``load_model``) or a mapping of names to models; the tables
    name each model by its key (one model: its run id, folder name or family). ``source``
    is a path (a text file, a folder, a ``.jsonl``/``.csv``/``.parquet`` file or saved
    dataset, whose other columns become each document's metadata, or the builtin corpus), a
    list of texts, or a ``datasets.Dataset``. Each document's figures are those of
    ``score(model, text=document, detail_level=...)``. ``tables`` lists the tables to
    write (``documents`` always; ``words``; ``characters``, with ``top_k`` expected
    characters); the rest are the fields of ``CorpusScoreConfig`` (``CORPUS_FIELDS``).

    An unfinished scoring of the same ``name`` goes on where it stopped (its source, models
    and tables must be the same). With ``show`` its progress is shown here: a live bar with
    a Stop button in a notebook, a text bar otherwise. The handle's ``result()`` waits for
    the ``CorpusOutcome``, ``stop()`` stops it, ``frame(table)`` reads a table so far.
    ``sinks`` get every event of the job too. With ``nproc`` the scoring runs on that many
    processes under torchrun (a program of its own; Gloo on the CPU), each scoring its share
    of the windows of documents into its own parts; the source must then be a path and each
    model a run id or a folder.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad option, a missing text field, a
            metadata column named like a documents column, an empty source, a name taken by
            another scoring or run), ``MODEL_NOT_FOUND``, ``MODEL_INCOMPATIBLE`` (a family
            that cannot score), ``CORPUS_NOT_FOUND``; nothing is written before they are.
    """
    cfg = corpus_overlay(
        {
            "name": name,
            "text_field": text_field,
            "glob": glob,
            "dataset_split": dataset_split,
            "tables": list(tables),
            "top_k": top_k,
            "batch_tokens": batch_tokens,
            "window_docs": window_docs,
            "precision": precision,
        },
        where="keywords",
    )
    settings = runs_settings(runs_dir)
    refs = _named(models)
    if nproc is None:
        plan = plan_scoring(refs, source, cfg, settings, registry=registry)
        return start_corpus_job(plan, settings, view=_view(show), sinks=sinks)
    if not isinstance(source, str) or not all(isinstance(ref, str) for ref in refs.values()):
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"nproc={nproc} needs the source as a path and each model as a run id or a "
            f"folder (every process loads them itself), got a {type(source).__name__} source "
            f"and models {', '.join(type(ref).__name__ for ref in refs.values())}",
        )
    command = torchrun_command(
        nproc_per_node=nproc, nnodes=1, rdzv_endpoint=None, rdzv_id=cfg["name"] or "scoring"
    )
    plan = plan_scoring(refs, source, cfg, settings, registry=registry)
    paths = {key: ref for key, ref in refs.items() if isinstance(ref, str)}
    program = rank_program(paths, source, plan)
    return launch_scoring([*command, *program], plan, settings, view=_view(show), sinks=sinks)


def plan_scoring(
    refs: Mapping[str, CorpusModelRef],
    source: CorpusSource,
    cfg: CorpusScoreConfig,
    settings: Settings,
    *,
    registry: ModelRegistry = default_registry,
    rank: int = 0,
    world: int = 1,
    meet: Callable[[], None] = lambda: None,
) -> CorpusPlan:
    """Check everything of a scoring, then make (or reopen) its folder; returns its plan.

    ``rank`` of ``world`` processes under torchrun, which meet at the end with ``meet``.

    Raises:
        ModelTrainerError: the errors ``score_corpus`` lists, before anything is written.
    """
    validate_corpus_config(cfg)
    described = {key: _describe(ref) for key, ref in refs.items()}
    records, info, in_memory = _source(source, cfg)
    _first(records)
    uses = _uses(dict(refs), settings, registry)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    chosen = cfg["name"] or f"scoring-{stamp}-{secrets.token_hex(2)}"
    folder = run_dir(settings, chosen)
    if folder.exists():
        _check_resume(folder, cfg, info, described)
    else:
        create_folder(folder, new_manifest(chosen, info, described, cfg))
    if in_memory is not None:
        _save_source(folder, in_memory, cfg["text_field"])
    return {
        "name": chosen,
        "folder": str(folder),
        "models": uses,
        "records": records,
        "cfg": {**cfg, "name": chosen},
        "rank": rank,
        "world": world,
        "meet": meet,
    }


def _view(show: bool) -> ViewFactory | None:
    if not show:
        return None
    notebook = in_notebook()

    def view(stop: Callable[[], None]) -> ViewSink:
        return make_scoring_view(stop, notebook=notebook)

    return view


def open_scores(name: str, *, runs_dir: str | None = None) -> ScoringTables:
    """The tables of the scoring ``name`` in the runs folder: ``frame(table)`` reads one.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` when there is no scoring of that name.
    """
    folder = run_dir(runs_settings(runs_dir), name)
    read_scoring(folder)
    return ScoringTables(str(folder))

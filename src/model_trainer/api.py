"""The notebook functions: train, resume, evaluate, score, generate, load and compare runs.

Each returns plain data first (an outcome TypedDict, a list of runs) or, for training, the
job's handle at once; showing a result is a separate call (``show_score``,
``show_generation``, ``show_comparison``, ``show_curves``) whose object displays itself in
a notebook. ``train`` and ``resume`` show a live panel with a Stop button in a notebook
front end, and a text progress bar elsewhere or when ``MODEL_TRAINER_CONSOLE=1``.

The keywords of ``train``, ``score`` and ``generate`` are the fields of
``ModelTrainConfig``, ``ScoreConfig`` and ``GenerateConfig`` with the defaults of their
schemas (``core/contracts/schema.py``), which work on the embedded corpus; each config is
validated once, by the job or the inference step it goes to. ``runs_dir`` picks the
runs folder (default: ``MODEL_TRAINER_RUNS_DIR``, else ``./runs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from model_trainer.core.backends.family import Capability
from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import Settings, load_settings, with_overrides
from model_trainer.core.contracts.defaults import train_config_from_mapping
from model_trainer.core.contracts.model import (
    Attribution,
    CompileChoice,
    DetailLevel,
    DeviceName,
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    LoadOptions,
    ModelTrainConfig,
    Precision,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TrainOutcome,
)
from model_trainer.core.contracts.schema import (
    TRAIN_DEFAULTS,
    TRAIN_FIELDS,
    WORD_PATTERN,
    train_overlay,
)
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.contracts.validators import (
    validate_generate_config,
    validate_score_config,
)
from model_trainer.core.data.cache import cache_root
from model_trainer.core.data.evict import Evicted, trim_cache
from model_trainer.core.data.memory import Corpus, refuse_two_corpora, save_corpus
from model_trainer.core.distributed.launcher import launch_distributed as launch_torchrun
from model_trainer.core.distributed.launcher import resume_distributed as resume_torchrun
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.events.tensorboard_sink import TensorBoardSink
from model_trainer.core.inference.finite import require_finite_weights
from model_trainer.core.jobs.eval_job import start_eval
from model_trainer.core.jobs.model_job import load_run_model
from model_trainer.core.jobs.run_store import (
    EVENTS_FILE,
    RunSummary,
    existing_run_dir,
    require_model,
)
from model_trainer.core.jobs.run_store import list_runs as stored_runs
from model_trainer.core.jobs.runner import JobHandle, ViewFactory
from model_trainer.core.jobs.train_job import resume_train, start_train
from model_trainer.core.training.checkpoint import Which
from model_trainer.core.training.manifest import read_manifest
from model_trainer.notebook.compare import ComparisonView, RunComparison, run_curve
from model_trainer.notebook.frontend import in_notebook, ipython_display, png_output
from model_trainer.notebook.generation_view import StreamingGeneration
from model_trainer.notebook.panel import make_training_sink
from model_trainer.notebook.units import DisplayUnit

TrainJob = JobHandle[TrainOutcome]
ModelRef = str | TrainJob | PreparedLMModel
"""A model to score or sample: a run id, a train job's handle, or a loaded run."""


def runs_settings(runs_dir: str | None) -> Settings:
    """The settings of this process, with ``runs_dir`` as the runs folder when given."""
    return with_overrides(load_settings(), runs_dir=runs_dir)


def keyword_config(values: Mapping[str, object]) -> ModelTrainConfig:
    """The run config of a notebook function's keywords (its ``locals()``), read by the schema.

    The keywords are spelled out in each function for tab completion; their values are
    gathered here once. Only their types are checked; the job starter validates the config.
    """
    fields = {field["name"]: values[field["name"]] for field in TRAIN_FIELDS}
    return train_overlay(fields, where="keywords")


def view_factory(show: bool, unit: DisplayUnit) -> ViewFactory | None:
    """With ``show``, the live panel (or console) a train job takes as its view.

    The view gets every event of the job, and ``job.show()`` shows it again, history and all.
    """
    if not show:
        return None
    notebook = in_notebook()
    return lambda stop: make_training_sink(stop, notebook=notebook, unit=unit)


def train(
    *,
    model_family: str = TRAIN_DEFAULTS["model_family"],
    model_size: str = TRAIN_DEFAULTS["model_size"],
    corpus_path: str = TRAIN_DEFAULTS["corpus_path"],
    tokenizer_kind: TokenizerKind = TRAIN_DEFAULTS["tokenizer_kind"],
    vocab_size: int = TRAIN_DEFAULTS["vocab_size"],
    max_seq_len: int = TRAIN_DEFAULTS["max_seq_len"],
    num_epochs: int = TRAIN_DEFAULTS["num_epochs"],
    batch_size: int = TRAIN_DEFAULTS["batch_size"],
    learning_rate: float = TRAIN_DEFAULTS["learning_rate"],
    weight_decay: float = TRAIN_DEFAULTS["weight_decay"],
    warmup_steps: int = TRAIN_DEFAULTS["warmup_steps"],
    grad_clip: float = TRAIN_DEFAULTS["grad_clip"],
    grad_accum_steps: int = TRAIN_DEFAULTS["grad_accum_steps"],
    val_fraction: float = TRAIN_DEFAULTS["val_fraction"],
    eval_every_steps: int = TRAIN_DEFAULTS["eval_every_steps"],
    checkpoint_every_steps: int = TRAIN_DEFAULTS["checkpoint_every_steps"],
    max_steps_per_epoch: int = TRAIN_DEFAULTS["max_steps_per_epoch"],
    seed: int = TRAIN_DEFAULTS["seed"],
    watch_learning: bool = TRAIN_DEFAULTS["watch_learning"],
    sample_every_steps: int = TRAIN_DEFAULTS["sample_every_steps"],
    probe_text: str = TRAIN_DEFAULTS["probe_text"],
    device: DeviceName = TRAIN_DEFAULTS["device"],
    precision: Precision = TRAIN_DEFAULTS["precision"],
    compile: CompileChoice = TRAIN_DEFAULTS["compile"],
    eval_max_tokens: int = TRAIN_DEFAULTS["eval_max_tokens"],
    epoch_eval_max_tokens: int = TRAIN_DEFAULTS["epoch_eval_max_tokens"],
    early_stopping_patience: int = TRAIN_DEFAULTS["early_stopping_patience"],
    early_stopping_min_delta: float = TRAIN_DEFAULTS["early_stopping_min_delta"],
    text_field: str = TRAIN_DEFAULTS["text_field"],
    glob: str = TRAIN_DEFAULTS["glob"],
    val_path: str | None = TRAIN_DEFAULTS["val_path"],
    dataset_split: str = TRAIN_DEFAULTS["dataset_split"],
    val_split: str = TRAIN_DEFAULTS["val_split"],
    init_from: str = TRAIN_DEFAULTS["init_from"],
    gradient_checkpointing: bool = TRAIN_DEFAULTS["gradient_checkpointing"],
    lora_rank: int = TRAIN_DEFAULTS["lora_rank"],
    corpus: Corpus | None = None,
    val_corpus: Corpus | None = None,
    run_id: str | None = None,
    runs_dir: str | None = None,
    show: bool = True,
    unit: DisplayUnit = "nats_per_token",
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
    tensorboard: bool = False,
) -> TrainJob:
    """Start training a run on a background thread; returns its handle at once.

    The keywords up to ``lora_rank`` are the fields of ``ModelTrainConfig``. ``corpus``
    (and ``val_corpus``) is a corpus held in memory, in place of ``corpus_path`` (and
    ``val_path``): a ``str`` of text, a list of ``str`` documents, or a ``datasets.Dataset``
    (or ``DatasetDict``, read at ``dataset_split``) whose ``text_field`` column holds the
    text. It is saved by content under the runs folder (once per content), so ``resume``
    and ``evaluate`` find it after a restart. With ``init_from`` (a folder or a cached
    Hugging Face model id) the run fine-tunes that pretrained causal LM with its own
    tokenizer (``model_family``, ``model_size``, ``tokenizer_kind`` and ``vocab_size`` left
    at their defaults). With ``show`` the run's progress is shown here: a live panel with a
    Stop button and charts in ``unit`` in a notebook, a text bar otherwise. ``sinks`` get
    every event too; ``registry`` knows the model families (add your own to a
    ``ModelRegistry``). With ``tensorboard`` the run's metrics are also written as
    TensorBoard files in its folder (``tensorboard --logdir runs``; the ``tensorboard``
    extra).

    Use the handle: ``job.result()`` waits for the ``TrainOutcome``, ``job.cancel()`` stops
    the run at its next step with a checkpoint, ``job.run_id`` names it for ``resume``,
    ``job.show()`` shows the panel again with the whole history (after a page reload).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` or ``INVALID_MODEL_SIZE`` for a bad field,
            ``MODEL_NOT_FOUND`` for an unregistered family, ``CUDA_NOT_AVAILABLE``; later
            failures are the job's (``job.result()`` raises them).
    """
    cfg = keyword_config(locals())
    settings = runs_settings(runs_dir)
    boards = (TensorBoardSink(settings["runs_dir"]),) if tensorboard else ()
    refuse_two_corpora(corpus, corpus_path, val_corpus, val_path)
    if corpus is not None:
        cfg["corpus_path"] = save_corpus(
            corpus, settings, field="corpus", text_field=text_field, split=dataset_split
        )
    if val_corpus is not None:
        cfg["val_path"] = save_corpus(
            val_corpus, settings, field="val_corpus", text_field=text_field, split=val_split
        )
    return start_train(
        cfg,
        settings,
        sinks=(*sinks, *boards),
        view=view_factory(show, unit),
        run_id=run_id,
        registry=registry,
    )


def resume(
    run_id: str,
    *,
    runs_dir: str | None = None,
    show: bool = True,
    unit: DisplayUnit = "nats_per_token",
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
) -> TrainJob:
    """Continue a stopped (or failed, or killed) run from its last checkpoint; returns at once.

    The run keeps its id, config and history; its curves continue where they stopped.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run, or no checkpoint yet),
            ``INVALID_CONFIG`` (a completed run, or one still running).
    """
    settings = runs_settings(runs_dir)
    return resume_train(
        run_id, settings, sinks=sinks, view=view_factory(show, unit), registry=registry
    )


def launch_distributed(
    config: Mapping[str, object] | None = None,
    *,
    nproc_per_node: int = 2,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    run_id: str | None = None,
    runs_dir: str | None = None,
    show: bool = True,
    unit: DisplayUnit = "nats_per_token",
    sinks: Sequence[EventSink] = (),
    registry: ModelRegistry = default_registry,
    oversubscribe: bool = False,
) -> TrainJob:
    """Train one run on ``nproc_per_node`` processes (DDP under torchrun); returns at once.

    ``nproc_per_node`` is at most this machine's GPUs (else its CPU cores) unless
    ``oversubscribe`` is True. Every check is made before the handle is returned.

    ``config`` holds ``ModelTrainConfig`` fields (any of them; the rest take ``train``'s
    defaults). torchrun runs as a program of its own, never a fork of this kernel; the job
    follows the run's ``events.jsonl`` into the live panel, whose Stop ends every process
    at the same step with a checkpoint. ``batch_size`` is per process: the global batch is
    ``batch_size * nproc_per_node * nnodes``. On several nodes (``nnodes``,
    ``rdzv_endpoint`` = ``host:port`` of one of them) run ``job.work.command`` on each other
    node too; the runs folder must be one that every node sees.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for an unknown or bad field, a taken run id or
            bad process counts; later failures are the job's (``job.result()`` raises them).
    """
    cfg = train_config_from_mapping(dict(config or {}))
    settings = runs_settings(runs_dir)
    return launch_torchrun(
        cfg,
        nproc_per_node,
        settings,
        run_id=run_id,
        sinks=sinks,
        view=view_factory(show, unit),
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        registry=registry,
        oversubscribe=oversubscribe,
    )


def resume_distributed(
    run_id: str,
    *,
    nproc_per_node: int = 2,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    runs_dir: str | None = None,
    show: bool = True,
    unit: DisplayUnit = "nats_per_token",
    sinks: Sequence[EventSink] = (),
    oversubscribe: bool = False,
) -> TrainJob:
    """Continue a run trained by ``launch_distributed`` from its last checkpoint; returns at once.

    ``nproc_per_node * nnodes`` must be the number of processes the run started with (and,
    unless ``oversubscribe``, ``nproc_per_node`` at most this machine's GPUs or CPU cores).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run), ``MODEL_INCOMPATIBLE``
            (another number of processes), ``INVALID_CONFIG`` (bad process counts).
    """
    settings = runs_settings(runs_dir)
    return resume_torchrun(
        run_id,
        nproc_per_node,
        settings,
        sinks=sinks,
        view=view_factory(show, unit),
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        oversubscribe=oversubscribe,
    )


def _run_id_of(run: str | TrainJob) -> str:
    """The run id of ``run``; a job's handle is waited for first."""
    if isinstance(run, str):
        return run
    run.wait()
    return run.run_id


def evaluate(
    run: str | TrainJob,
    *,
    runs_dir: str | None = None,
    registry: ModelRegistry = default_registry,
) -> EvalOutcome:
    """The loss, perplexity and bits per character of a completed run on its validation split.

    ``run`` is a run id or a train job's handle (waited for).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run, or no saved model: the run
            did not complete), ``INVALID_CONFIG`` (a bad run id), ``MODEL_INCOMPATIBLE`` (a
            family without ``supports_evaluate``, refused before a job's handle is waited for).
    """
    if not isinstance(run, str):
        _require(run, registry, "supports_evaluate")
    return start_eval(_run_id_of(run), runs_settings(runs_dir), registry=registry).result()


def load_run(
    run_id: str,
    *,
    which: Which = "last",
    runs_dir: str | None = None,
    registry: ModelRegistry = default_registry,
) -> PreparedLMModel:
    """The saved model of a completed run, with its tokenizer, ready to score and sample.

    ``which="best"`` gives it the weights of the run's best checkpoint (lowest validation
    loss) instead of its last.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run, no saved model yet, no best
            checkpoint, or a family ``registry`` does not know), ``MODEL_LOAD_FAILED`` (a
            damaged model), ``INVALID_CONFIG`` (another ``which``).
    """
    return _load_run(run_id, runs_settings(runs_dir), registry, None, which)


def load_model(
    source: str,
    *,
    device: DeviceName = "auto",
    dtype: Precision = "auto",
    local_files_only: bool = True,
    max_seq_len: int | None = None,
    registry: ModelRegistry = default_registry,
) -> PreparedLMModel:
    """A pretrained Hugging Face causal LM, ready for ``score``, ``generate`` and the views.

    ``source`` is a folder (``config.json``, safetensors weights, a fast tokenizer) or a
    model id already in the local Hugging Face cache; ``local_files_only=False`` downloads a
    missing one. ``device`` and ``dtype`` ``auto``: the GPU in bf16 where supported, else
    fp32 on the CPU. Texts are scored in windows of ``max_seq_len`` tokens (default: the
    model's context, at most 4096). Every check runs before the weights load, so a refused
    model never reaches the GPU.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no folder, config or weights; a model id not
            in the cache), ``MODEL_LOAD_FAILED`` (pickled ``.bin`` weights, unreadable files,
            too big for the host), ``MODEL_INCOMPATIBLE`` (not a decoder-only causal LM),
            ``TOKENIZER_LOAD_FAILED`` (a slow tokenizer without offsets), ``CUDA_OOM`` (too
            big for the GPU), ``CUDA_NOT_AVAILABLE``, ``INVALID_CONFIG`` (``max_seq_len``).
    """
    family, _ = registry.source_family()
    registry.require(family, "supports_score")
    options: LoadOptions = {
        "device": device,
        "dtype": dtype,
        "local_files_only": local_files_only,
        "max_seq_len": max_seq_len,
    }
    return registry.get(family).load_source(source, options)


def _load_run(
    run_id: str,
    settings: Settings,
    registry: ModelRegistry,
    capability: Capability | None,
    which: str = "last",
) -> PreparedLMModel:
    """Run ``run_id``'s saved model, its family first checked for ``capability``."""
    folder = require_model(settings, run_id)
    cfg = read_manifest(str(folder))["config"]
    if capability is not None:
        registry.require(cfg["model_family"], capability)
    return load_run_model(registry.get(cfg["model_family"]), cfg, folder, settings, which)


def _require(job: TrainJob, registry: ModelRegistry, capability: Capability) -> None:
    """Refuse ``job``'s run before waiting for it when its family lacks ``capability``."""
    registry.require(read_manifest(job.run_dir)["config"]["model_family"], capability)


def _prepared(
    model: ModelRef, runs_dir: str | None, registry: ModelRegistry, capability: Capability
) -> PreparedLMModel:
    """The model ``model`` refers to; its family must have ``capability``, checked first."""
    if isinstance(model, str):
        loaded = _load_run(model, runs_settings(runs_dir), registry, capability)
        require_finite_weights(loaded["model"], f"the model of run {model!r}")
        return loaded
    if isinstance(model, JobHandle):
        _require(model, registry, capability)
        model.wait()
        prepared = model.prepared
        if prepared is None:
            raise ModelTrainerError(
                "MODEL_NOT_FOUND",
                f"job {model.job_id!r} has no model: it ended {model.state} before building one",
            )
        require_finite_weights(prepared["model"], f"the model of job {model.job_id!r}")
        return prepared
    registry.require(model["model_family"], capability)
    require_finite_weights(model["model"], f"the {model['model_family']} model")
    return model


def score(
    model: ModelRef,
    *,
    text: str | None = None,
    path: str | None = None,
    detail_level: DetailLevel = "summary",
    top_k: int | None = None,
    seed: int | None = None,
    attribution: Attribution = "char_probability",
    beam: int = 1,
    word_pattern: str = WORD_PATTERN,
    runs_dir: str | None = None,
    registry: ModelRegistry = default_registry,
) -> ScoreOutcome:
    """Score a text (``text``, or the file at ``path``) with ``model``.

    ``model`` is a run id, a train job's handle (waited for, its model as trained, also
    after a Stop) or a loaded run. The outcome gives the loss in nats per token, the
    perplexity and the bits per character of the canonical tokenization;
    ``detail_level="per_char"`` adds each character's surprisal, ``-log2 P(c | text before
    it)`` under the model's distribution over strings (``attribution="even_spread"``: the
    token's surprisal shared evenly by its characters), and ``top_k`` the ``top_k``
    characters the model expected there. ``beam`` sums over that many tokenizations of the
    text (one more forward pass for each after the first): 1 reads the canonical one, a wide
    beam is exact.
    ``detail_level="per_word"`` gives each word's surprisal (its characters' plus its ending
    where it ends; words are matches of ``word_pattern``).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (not exactly one of text and path, a bad
            ``top_k``), ``MODEL_INCOMPATIBLE`` (a family without ``supports_score``), the
            errors of ``load_run`` for a run id.
    """
    cfg: ScoreConfig = {
        "text": text,
        "path": path,
        "detail_level": detail_level,
        "top_k": top_k,
        "seed": seed,
        "attribution": attribution,
        "beam": beam,
        "word_pattern": word_pattern,
    }
    validate_score_config(cfg)
    prepared = _prepared(model, runs_dir, registry, "supports_score")
    backend = registry.get(prepared["model_family"])
    return backend.score(prepared=prepared, cfg=cfg, settings=runs_settings(runs_dir))


def generate(
    model: ModelRef,
    *,
    prompt_text: str | None = None,
    prompt_path: str | None = None,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int = 50,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    seed: int | None = 0,
    stop_sequences: Sequence[str] = (),
    show: bool = False,
    runs_dir: str | None = None,
    registry: ModelRegistry = default_registry,
) -> GenerateOutcome:
    """Sample continuations of a prompt (``prompt_text``, or the file at ``prompt_path``).

    ``model`` is as for ``score``. Padding and the unknown id are never sampled. With
    ``show`` the tokens appear here as they are sampled, each shaded by its probability.
    ``outputs[i]`` is the i-th continuation (prompt excluded); ``sequences[i]`` has its
    tokens, their probabilities and why it stopped.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (a bad field, not exactly one prompt), the
            errors of ``load_run`` for a run id, ``MODEL_INCOMPATIBLE`` (a family without
            ``supports_generate``).
    """
    cfg: GenerateConfig = {
        "prompt_text": prompt_text,
        "prompt_path": prompt_path,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "num_return_sequences": num_return_sequences,
        "seed": seed,
        "stop_sequences": list(stop_sequences),
    }
    validate_generate_config(cfg)
    prepared = _prepared(model, runs_dir, registry, "supports_generate")
    backend = registry.get(prepared["model_family"])
    settings = runs_settings(runs_dir)
    if not show:
        return backend.generate(prepared=prepared, cfg=cfg, settings=settings)
    stream = StreamingGeneration(prompt=prompt_text)
    stream.show()
    outcome = backend.generate(
        prepared=prepared, cfg=cfg, settings=settings, on_token=stream.on_token
    )
    stream.finish(outcome)
    return outcome


def list_runs(*, runs_dir: str | None = None) -> list[RunSummary]:
    """Every run in the runs folder, oldest first: id, state, model, epochs, last val loss."""
    return stored_runs(runs_settings(runs_dir))


def clear_cache(*, runs_dir: str | None = None) -> Evicted:
    """Empty the runs folder's token cache; returns the source folders removed and the bytes.

    Each corpus's split, tokenizers and ids go; they are rebuilt when a run needs them.
    Kept: a source another process is building, and the saved in-memory corpora
    (``.cache/sources``) that runs read again when resumed. Without a call the cache keeps
    itself within ``MODEL_TRAINER_CACHE_MAX_MB`` (default 20,000; 0: no limit), the least
    recently used sources going first.
    """
    return trim_cache(cache_root(runs_settings(runs_dir)), 0)


def run_events(run: str | TrainJob, runs_dir: str | None) -> tuple[str, list[Event]]:
    """The id and every event so far of ``run`` (a run id or a train job's handle)."""
    run_id = run if isinstance(run, str) else run.run_id
    folder = existing_run_dir(runs_settings(runs_dir), run_id)
    return run_id, read_events(folder / EVENTS_FILE)


def compare_runs(
    runs: Sequence[str | TrainJob], *, runs_dir: str | None = None, show: bool = False
) -> RunComparison:
    """The validation curves of several runs in bits per character, whatever their tokenizers.

    ``runs`` are run ids or train jobs' handles (read as they are now: a run still
    training shows the epochs it finished). With ``show`` the chart is shown here; else
    ``show_comparison`` draws it.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (no runs, a bad run id, a run without a
            finished config or validation split), ``MODEL_NOT_FOUND`` (no such run).
    """
    if not runs:
        raise ModelTrainerError("INVALID_CONFIG", "runs must name at least one run, got []")
    comparison: RunComparison = {"runs": [run_curve(*run_events(run, runs_dir)) for run in runs]}
    if show:
        ipython_display(png_output(ComparisonView(comparison).png()))
    return comparison

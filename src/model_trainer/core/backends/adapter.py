"""The family contract: the spec's ``BackendFunctions`` table, made a backend by ``create_backend``.

A family is one table of plain functions with the spec's signatures. What every family
shares is a plain function a table names: the loop's ``run_training`` (``train``),
``evaluate_run`` (``evaluate``), the forward-only ``score_forward_only`` and
``generate_forward_only``, ``ModuleFormat``'s ``save`` and ``load``; ``fresh_model`` and
``family_shape`` build a ``prepare``. ``capabilities`` is optional: without it a family
does what its table provides (train, evaluate, score, generate) on one process, any size
its ``convert_config`` accepts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Generic, NotRequired, Protocol, TypedDict, TypeVar

import torch

from model_trainer.core.backends.artifact import new_meta, prepared_model
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    BackendCapabilities,
    BatchForward,
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    LMModelProto,
    LoadOptions,
    ModelArtifact,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
    TrainingCallbacks,
    TrainOutcome,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.device import available_device
from model_trainer.core.training.evaluate import evaluate_run

TBackendConfig = TypeVar("TBackendConfig")
ShapeT = TypeVar("ShapeT")

_BUILDING = threading.Lock()
"""Held while a model is seeded and built: torch's random state is the process's, so models
built on several threads at once (a sweep's trials) take turns and each starts from the
weights of its own seed."""


class Streamer(Protocol):
    """A family's sampling that calls ``on_token`` for every sampled token as it goes."""

    def __call__(
        self,
        prepared: PreparedLMModel,
        cfg: GenerateConfig,
        settings: Settings,
        *,
        on_token: TokenCallback | None = None,
    ) -> GenerateOutcome:
        """Sample continuations of ``cfg``'s prompt."""
        ...


class BackendFunctions(TypedDict, Generic[TBackendConfig]):
    """The functions that define one model family (the spec's table).

    ``capabilities`` defaults to ``default_capabilities()``; ``stream`` (sampling that
    reports each token as it is drawn) to ``generate``, whose tokens are then reported once
    it returns; ``load_source`` (a model from outside the runs folder) to none;
    ``score_batch`` (many short texts in one forward pass, for corpus scoring) to none, the
    texts then scored one at a time by ``score``.
    """

    name: str
    convert_config: Callable[[ModelTrainConfig], TBackendConfig]
    prepare: Callable[[TBackendConfig, Settings, TokenizerHandle], PreparedLMModel]
    train: Callable[[PreparedLMModel, TBackendConfig, TrainingCallbacks], TrainOutcome]
    evaluate: Callable[[str, TBackendConfig, Settings], EvalOutcome]
    score: Callable[[PreparedLMModel, ScoreConfig, Settings], ScoreOutcome]
    generate: Callable[[PreparedLMModel, GenerateConfig, Settings], GenerateOutcome]
    save: Callable[[PreparedLMModel, str], ModelArtifact]
    load: Callable[[str, Settings, TokenizerHandle], PreparedLMModel]
    capabilities: NotRequired[BackendCapabilities]
    stream: NotRequired[Streamer]
    load_source: NotRequired[Callable[[str, LoadOptions], PreparedLMModel]]
    score_batch: NotRequired[BatchForward]


def default_capabilities() -> BackendCapabilities:
    """What a table without ``capabilities`` does: all it provides, on one process, any size.

    An empty ``supported_sizes`` leaves the size to the family's ``convert_config``.
    """
    return {
        "supports_train": True,
        "supports_evaluate": True,
        "supports_score": True,
        "supports_generate": True,
        "supports_distributed": False,
        "supported_sizes": (),
    }


class _Backend(Generic[TBackendConfig]):
    def __init__(self, funcs: BackendFunctions[TBackendConfig]) -> None:
        self._funcs = funcs
        self._capabilities = funcs.get("capabilities", default_capabilities())

    def name(self) -> str:
        return self._funcs["name"]

    def capabilities(self) -> BackendCapabilities:
        return self._capabilities

    def prepare(
        self, cfg: ModelTrainConfig, settings: Settings, *, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        return self._funcs["prepare"](self._funcs["convert_config"](cfg), settings, tokenizer)

    def train(
        self, cfg: ModelTrainConfig, *, prepared: PreparedLMModel, callbacks: TrainingCallbacks
    ) -> TrainOutcome:
        return self._funcs["train"](prepared, self._funcs["convert_config"](cfg), callbacks)

    def evaluate(self, *, run_dir: str, cfg: ModelTrainConfig, settings: Settings) -> EvalOutcome:
        return self._funcs["evaluate"](run_dir, self._funcs["convert_config"](cfg), settings)

    def score(
        self, *, prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
    ) -> ScoreOutcome:
        return self._funcs["score"](prepared, cfg, settings)

    def generate(
        self,
        *,
        prepared: PreparedLMModel,
        cfg: GenerateConfig,
        settings: Settings,
        on_token: TokenCallback | None = None,
    ) -> GenerateOutcome:
        stream = self._funcs.get("stream")
        if stream is not None:
            return stream(prepared, cfg, settings, on_token=on_token)
        outcome = self._funcs["generate"](prepared, cfg, settings)
        if on_token is not None:
            for index, sequence in enumerate(outcome["sequences"]):
                for text, prob in zip(sequence["tokens"], sequence["token_probs"], strict=True):
                    on_token(index, text, prob)
        return outcome

    def save(self, prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
        return self._funcs["save"](prepared, out_dir)

    def load(
        self, artifact_path: str, settings: Settings, *, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        return self._funcs["load"](artifact_path, settings, tokenizer)

    def load_source(self, source: str, options: LoadOptions) -> PreparedLMModel:
        load_source = self._funcs.get("load_source")
        if load_source is None:
            raise ModelTrainerError(
                "MODEL_INCOMPATIBLE",
                f"model_family {self.name()!r} cannot load a source from outside the runs "
                "folder (its table has no load_source)",
            )
        return load_source(source, options)

    def batch_forward(self) -> BatchForward | None:
        return self._funcs.get("score_batch")


def create_backend(funcs: BackendFunctions[TBackendConfig]) -> ModelBackend:
    """Create a ``ModelBackend`` that calls ``funcs``.

    Configs are validated once, where a job or a public function receives them, not here.
    """
    return _Backend(funcs)


def same_config(cfg: ModelTrainConfig) -> ModelTrainConfig:
    """A ``convert_config`` for a family that reads the run config as it is."""
    return cfg


def family_shape(cfg: ModelTrainConfig, sizes: Mapping[str, ShapeT]) -> ShapeT:
    """The shape ``cfg["model_size"]`` names among ``sizes``.

    Raises:
        ModelTrainerError: ``INVALID_MODEL_SIZE`` naming the size and the valid ones.
    """
    size = cfg["model_size"]
    if size not in sizes:
        raise ModelTrainerError(
            "INVALID_MODEL_SIZE",
            f"model_size {size!r} is not a {cfg['model_family']} size; "
            f"valid sizes: {', '.join(sizes)}",
        )
    return sizes[size]


def fresh_model(
    cfg: ModelTrainConfig, tokenizer: TokenizerHandle, build: Callable[[], LMModelProto]
) -> PreparedLMModel:
    """A run's start: ``build()`` under the run's seed, moved to the run's device."""
    meta = new_meta(cfg, tokenizer)
    device = available_device(cfg["device"])
    with _BUILDING:
        torch.manual_seed(cfg["seed"])
        model = build()
    return prepared_model(model=model.to(device), meta=meta, tokenizer=tokenizer, device=device)


def evaluator(
    load: Callable[[str, Settings, TokenizerHandle], PreparedLMModel],
) -> Callable[[str, ModelTrainConfig, Settings], EvalOutcome]:
    """An ``evaluate`` for a family that reads the run config as it is.

    It is ``evaluate_run`` of the run's saved model, read with ``load``.
    """

    def evaluate(run_dir: str, cfg: ModelTrainConfig, settings: Settings) -> EvalOutcome:
        return evaluate_run(run_dir, cfg, settings, load)

    return evaluate

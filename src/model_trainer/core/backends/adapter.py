"""A family's parts in, a ``ModelBackend`` out (seed Phase 4).

A family supplies what differs (``FamilyParts``): its sizes, a model builder, its save and
load, and its own score and generate. ``family_functions`` fills the spec's table
(``BackendFunctions``) from them with what every family shares: the size lookup, the model
set up on its device with its seed, the training loop and the evaluation.
``create_backend`` turns that table into a ``ModelBackend``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Generic, Protocol, TypedDict, TypeVar

import torch

from model_trainer.core.backends.artifact import new_meta, prepared_model
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    BackendCapabilities,
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    LMModelProto,
    ModelArtifact,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
    TrainContext,
    TrainOutcome,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.device import available_device
from model_trainer.core.training.evaluate import evaluate_run
from model_trainer.core.training.loop import run_training

TBackendConfig = TypeVar("TBackendConfig")
ShapeT = TypeVar("ShapeT")

_BUILDING = threading.Lock()
"""Held while a model is seeded and built: torch's random state is the process's, so models
built on several threads at once (a sweep's trials) take turns and each starts from the
weights of its own seed."""


class Scorer(Protocol):
    """A family's scoring: the figures of ``cfg``'s text under ``prepared``."""

    def __call__(
        self, prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
    ) -> ScoreOutcome:
        """Score ``cfg``'s text."""
        ...


class Generator(Protocol):
    """A family's sampling, calling ``on_token`` for every sampled token."""

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
    """The functions that define one model family."""

    name: str
    capabilities: BackendCapabilities
    convert_config: Callable[[ModelTrainConfig], TBackendConfig]
    prepare: Callable[[TBackendConfig, Settings, TokenizerHandle], PreparedLMModel]
    train: Callable[[PreparedLMModel, TBackendConfig, TrainContext], TrainOutcome]
    evaluate: Callable[[str, TBackendConfig, Settings], EvalOutcome]
    score: Scorer
    generate: Generator
    save: Callable[[PreparedLMModel, str], ModelArtifact]
    load: Callable[[str, Settings], PreparedLMModel]


class _Backend(Generic[TBackendConfig]):
    def __init__(self, funcs: BackendFunctions[TBackendConfig]) -> None:
        self._funcs = funcs

    def name(self) -> str:
        return self._funcs["name"]

    def capabilities(self) -> BackendCapabilities:
        return self._funcs["capabilities"]

    def prepare(
        self, cfg: ModelTrainConfig, settings: Settings, *, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        return self._funcs["prepare"](self._funcs["convert_config"](cfg), settings, tokenizer)

    def train(
        self, cfg: ModelTrainConfig, *, prepared: PreparedLMModel, context: TrainContext
    ) -> TrainOutcome:
        return self._funcs["train"](prepared, self._funcs["convert_config"](cfg), context)

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
        return self._funcs["generate"](prepared, cfg, settings, on_token=on_token)

    def save(self, prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
        return self._funcs["save"](prepared, out_dir)

    def load(self, artifact_path: str, settings: Settings) -> PreparedLMModel:
        return self._funcs["load"](artifact_path, settings)


def create_backend(funcs: BackendFunctions[TBackendConfig]) -> ModelBackend:
    """Create a ``ModelBackend`` that calls ``funcs``.

    Configs are validated once, where a job or a public function receives them, not here.
    """
    return _Backend(funcs)


class FamilyConfig(TypedDict, Generic[ShapeT]):
    """A training config with the shape its ``model_size`` names."""

    shape: ShapeT
    train: ModelTrainConfig


class FamilyParts(TypedDict, Generic[ShapeT]):
    """What one model family supplies; training and evaluation come from the core.

    ``build(shape, cfg, tokenizer)`` returns a fresh model (torch is seeded and the model is
    moved to its device by the core). ``score`` and ``generate`` are the family's own, or the
    shared forward-only ones (``core/inference/forward_only.py``) named explicitly.
    """

    name: str
    capabilities: BackendCapabilities
    sizes: Mapping[str, ShapeT]
    build: Callable[[ShapeT, ModelTrainConfig, TokenizerHandle], LMModelProto]
    save: Callable[[PreparedLMModel, str], ModelArtifact]
    load: Callable[[str, Settings], PreparedLMModel]
    score: Scorer
    generate: Generator


def family_functions(parts: FamilyParts[ShapeT]) -> BackendFunctions[FamilyConfig[ShapeT]]:
    """The spec's table for the family of ``parts``, the shared steps filled in."""
    name, sizes = parts["name"], parts["sizes"]

    def convert_config(cfg: ModelTrainConfig) -> FamilyConfig[ShapeT]:
        size = cfg["model_size"]
        if size not in sizes:
            raise ModelTrainerError(
                "INVALID_MODEL_SIZE",
                f"model_size {size!r} is not a {name} size; valid sizes: {', '.join(sizes)}",
            )
        return {"shape": sizes[size], "train": cfg}

    def prepare(
        cfg: FamilyConfig[ShapeT], settings: Settings, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        del settings
        train = cfg["train"]
        meta = new_meta(train, tokenizer)
        device = available_device(train["device"])
        with _BUILDING:
            torch.manual_seed(train["seed"])
            model = parts["build"](cfg["shape"], train, tokenizer)
        return prepared_model(model=model.to(device), meta=meta, tokenizer=tokenizer, device=device)

    def train(
        prepared: PreparedLMModel, cfg: FamilyConfig[ShapeT], context: TrainContext
    ) -> TrainOutcome:
        return run_training(prepared, cfg["train"], context)

    def evaluate(run_dir: str, cfg: FamilyConfig[ShapeT], settings: Settings) -> EvalOutcome:
        return evaluate_run(run_dir, cfg["train"], settings, parts["load"])

    return {
        "name": name,
        "capabilities": parts["capabilities"],
        "convert_config": convert_config,
        "prepare": prepare,
        "train": train,
        "evaluate": evaluate,
        "score": parts["score"],
        "generate": parts["generate"],
        "save": parts["save"],
        "load": parts["load"],
    }


def family_backend(parts: FamilyParts[ShapeT]) -> ModelBackend:
    """The ``ModelBackend`` of the family of ``parts``."""
    return create_backend(family_functions(parts))

"""Turn a set of plain functions into a ``ModelBackend`` (seed Phase 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypedDict, TypeVar

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    BackendCapabilities,
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    ModelArtifact,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TrainContext,
    TrainOutcome,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.contracts.validators import (
    validate_generate_config,
    validate_model_train_config,
    validate_score_config,
)

TBackendConfig = TypeVar("TBackendConfig")


class BackendFunctions(TypedDict, Generic[TBackendConfig]):
    """The functions that define one model family."""

    name: str
    capabilities: BackendCapabilities
    convert_config: Callable[[ModelTrainConfig], TBackendConfig]
    prepare: Callable[[TBackendConfig, Settings, TokenizerHandle], PreparedLMModel]
    train: Callable[[PreparedLMModel, TBackendConfig, TrainContext], TrainOutcome]
    evaluate: Callable[[str, TBackendConfig, Settings], EvalOutcome]
    score: Callable[[PreparedLMModel, ScoreConfig, Settings], ScoreOutcome]
    generate: Callable[[PreparedLMModel, GenerateConfig, Settings], GenerateOutcome]
    save: Callable[[PreparedLMModel, str], ModelArtifact]
    load: Callable[[str, Settings], PreparedLMModel]


class _Backend(Generic[TBackendConfig]):
    def __init__(self, funcs: BackendFunctions[TBackendConfig]) -> None:
        self._funcs = funcs

    def _convert(self, cfg: ModelTrainConfig) -> TBackendConfig:
        validate_model_train_config(cfg, self._funcs["capabilities"])
        return self._funcs["convert_config"](cfg)

    def name(self) -> str:
        return self._funcs["name"]

    def capabilities(self) -> BackendCapabilities:
        return self._funcs["capabilities"]

    def prepare(
        self, cfg: ModelTrainConfig, settings: Settings, *, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        return self._funcs["prepare"](self._convert(cfg), settings, tokenizer)

    def train(
        self, cfg: ModelTrainConfig, *, prepared: PreparedLMModel, context: TrainContext
    ) -> TrainOutcome:
        return self._funcs["train"](prepared, self._convert(cfg), context)

    def evaluate(self, *, run_dir: str, cfg: ModelTrainConfig, settings: Settings) -> EvalOutcome:
        return self._funcs["evaluate"](run_dir, self._convert(cfg), settings)

    def score(
        self, *, prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
    ) -> ScoreOutcome:
        validate_score_config(cfg)
        return self._funcs["score"](prepared, cfg, settings)

    def generate(
        self, *, prepared: PreparedLMModel, cfg: GenerateConfig, settings: Settings
    ) -> GenerateOutcome:
        validate_generate_config(cfg)
        return self._funcs["generate"](prepared, cfg, settings)

    def save(self, prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
        return self._funcs["save"](prepared, out_dir)

    def load(self, artifact_path: str, settings: Settings) -> PreparedLMModel:
        return self._funcs["load"](artifact_path, settings)


def create_backend(funcs: BackendFunctions[TBackendConfig]) -> ModelBackend:
    """Create a ``ModelBackend`` that validates its inputs and calls ``funcs``."""
    return _Backend(funcs)

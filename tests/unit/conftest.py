"""Custom model families for the registry tests: the fake model under other names.

``rec`` has every capability and its own score and generate, which record each call;
``mute`` trains but cannot evaluate, score, sample or run distributed; ``frozen`` cannot
train. All live in a registry of their own, beside the built-in families.
"""

from __future__ import annotations

import pytest

from model_trainer.core.backends.adapter import (
    BackendFunctions,
    create_backend,
    evaluator,
    same_config,
)
from model_trainer.core.backends.fake import FAKE_SIZES, FakeShape
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.backends.family import family_capabilities
from model_trainer.core.backends.hf_causal_lm.tiny import ARCHS, Arch, save_tiny_checkpoint
from model_trainer.core.backends.module_format import ModuleFormat
from model_trainer.core.backends.registry import BUILTIN_BACKENDS, ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    BackendCapabilities,
    GenerateConfig,
    GenerateOutcome,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
)
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.inference.forward_only import generate_forward_only, score_forward_only
from model_trainer.core.training.loop import run_training


def _table(
    name: str, capabilities: BackendCapabilities, calls: list[str]
) -> BackendFunctions[ModelTrainConfig]:
    files = ModuleFormat(
        name, model_type=FakeLM, shape_type=FakeShape, sizes=FAKE_SIZES, build=FakeLM
    )

    def score(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> ScoreOutcome:
        calls.append(f"score {prepared['model_family']}")
        return score_forward_only(prepared, cfg, settings)

    def generate(
        prepared: PreparedLMModel,
        cfg: GenerateConfig,
        settings: Settings,
        *,
        on_token: TokenCallback | None = None,
    ) -> GenerateOutcome:
        calls.append(f"generate {prepared['model_family']}")
        return generate_forward_only(prepared, cfg, settings, on_token=on_token)

    return {
        "name": name,
        "capabilities": capabilities,
        "convert_config": same_config,
        "prepare": files.prepare,
        "train": run_training,
        "evaluate": evaluator(files.load),
        "score": score,
        "generate": generate,
        "stream": generate,
        "save": files.save,
        "load": files.load,
    }


@pytest.fixture
def calls() -> list[str]:
    """The calls of the custom families' own score and generate, in order."""
    return []


@pytest.fixture
def custom_registry(calls: list[str]) -> ModelRegistry:
    """The built-in families plus ``rec``, ``mute`` and ``frozen``."""
    registry = ModelRegistry(dict(BUILTIN_BACKENDS.items()))
    for name, capabilities in (
        ("rec", family_capabilities(FAKE_SIZES)),
        (
            "mute",
            family_capabilities(
                FAKE_SIZES, evaluate=False, score=False, generate=False, distributed=False
            ),
        ),
        ("frozen", family_capabilities(FAKE_SIZES, train=False)),
    ):
        registry.add(create_backend(_table(name, capabilities, calls)))
    return registry


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[Arch, str]:
    """A tiny pretrained checkpoint of each architecture, by name (random weights).

    GPT-2 and GPT-NeoX with a byte-level BPE, Llama with a SentencePiece-style BPE with byte
    fallback; tokenizers trained here, built once per session.
    """
    root = tmp_path_factory.mktemp("pretrained")
    text = builtin_text()[:20000]
    return {arch: save_tiny_checkpoint(str(root / arch), arch, text) for arch in ARCHS}

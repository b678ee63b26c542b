import math
import os
import threading
import time
import typing
from pathlib import Path

import pytest
import torch

from model_trainer.core.backends.adapter import create_backend, family_shape, fresh_model
from model_trainer.core.backends.char_lstm import CHAR_LSTM_SIZES
from model_trainer.core.backends.fake import FAKE_SIZES
from model_trainer.core.backends.fake.backend import FAKE_BACKEND_FUNCS
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.backends.family import (
    BackendRegistration,
    Capability,
    family_capabilities,
)
from model_trainer.core.backends.gpt2 import GPT2_SIZES
from model_trainer.core.backends.registry import (
    BUILTIN_BACKENDS,
    ModelFamily,
    ModelRegistry,
    default_registry,
)
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import generate_config, score_config, train_config
from model_trainer.core.contracts.model import (
    EpochMetrics,
    ModelTrainConfig,
    PreparedLMModel,
    TrainData,
    TrainingCallbacks,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.training.dataset import load_data


def test_registry_keys_equal_the_literal() -> None:
    assert set(BUILTIN_BACKENDS) == set(typing.get_args(ModelFamily))
    assert default_registry.names() == ("gpt2", "char_lstm", "fake", "hf_causal_lm")


def test_capabilities_without_building() -> None:
    registry = ModelRegistry(dict(BUILTIN_BACKENDS.items()))
    assert registry.get_capabilities("gpt2")["supported_sizes"] == tuple(GPT2_SIZES)
    assert registry.get_capabilities("char_lstm")["supported_sizes"] == tuple(CHAR_LSTM_SIZES)
    assert registry.get_capabilities("fake")["supported_sizes"] == tuple(FAKE_SIZES)
    assert not registry.is_loaded("gpt2")
    backend = registry.get("gpt2")
    assert registry.is_loaded("gpt2")
    assert registry.get("gpt2") is backend
    assert backend.name() == "gpt2"
    assert backend.capabilities() == registry.get_capabilities("gpt2")


def test_unknown_and_duplicate_families() -> None:
    registry = ModelRegistry(dict(BUILTIN_BACKENDS.items()))
    with pytest.raises(ModelTrainerError) as info:
        registry.get("rnn")
    assert info.value.code == "MODEL_NOT_FOUND"
    assert "'rnn'" in info.value.message
    assert "gpt2, char_lstm, fake" in info.value.message
    with pytest.raises(ModelTrainerError, match="'gpt2' is empty or already registered"):
        registry.register("gpt2", BUILTIN_BACKENDS["gpt2"])
    registry.register("fake2", BUILTIN_BACKENDS["fake"])
    assert registry.get("fake2").name() == "fake"
    registry.register("lost", {**BUILTIN_BACKENDS["fake"], "backend": "json:dumps"})
    with pytest.raises(ModelTrainerError) as lost:
        registry.get("lost")
    assert lost.value.code == "MODEL_NOT_FOUND"
    assert lost.value.message == (
        "model_family 'lost': 'json:dumps' names no backend (create_backend(...))"
    )
    with pytest.raises(ModelTrainerError, match="'fake' is empty or already registered"):
        registry.add(registry.get("fake"))


def _callbacks(
    run_dir: Path, settings: Settings, data: TrainData, seen: list[EpochMetrics]
) -> TrainingCallbacks:
    return {
        "heartbeat": lambda _t: None,
        "cancelled": lambda: False,
        "progress": None,
        "epoch_end": seen.append,
        "run": {"run_dir": str(run_dir), "resume": False, "data": data, "settings": settings},
    }


@pytest.mark.parametrize(
    ("family", "epochs", "lr"), [("fake", 3, 1e-2), ("char_lstm", 3, 1e-2), ("gpt2", 2, 3e-3)]
)
def test_each_family_learns_saves_evaluates_scores_and_samples(
    tmp_path: Path, settings: Settings, family: str, epochs: int, lr: float
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:24_000], encoding="utf-8")
    cfg = train_config(
        model_family=family,
        model_size="tiny",
        corpus_path=str(corpus),
        max_seq_len=32,
        batch_size=16,
        num_epochs=epochs,
        learning_rate=lr,
        warmup_steps=5,
        device="cpu",
    )
    backend = default_registry.get(family)
    tokenizer = CharTokenizer.from_text(corpus.read_text(encoding="utf-8"))
    prepared = backend.prepare(cfg, settings, tokenizer=tokenizer)
    seen: list[EpochMetrics] = []
    run_dir = tmp_path / "run"
    data = load_data(cfg, settings, prepared["tokenizer"])
    callbacks = _callbacks(run_dir, settings, data, seen)
    outcome = backend.train(cfg, prepared=prepared, callbacks=callbacks)
    assert outcome["epochs_completed"] == epochs
    assert not outcome["cancelled"]
    assert [m["epoch"] for m in seen] == list(range(1, epochs + 1))
    uniform = math.log(tokenizer.vocab_size)
    assert outcome["val_loss"] is not None
    assert outcome["val_loss"] < 0.75 * uniform
    artifact = backend.save(prepared, str(run_dir / "model"))
    assert artifact["model_family"] == family
    assert os.path.isdir(artifact["path"])
    evaluated = backend.evaluate(run_dir=str(run_dir), cfg=cfg, settings=settings)
    assert evaluated["loss_unit"] == "char"
    assert evaluated["loss"] == pytest.approx(outcome["val_loss"], rel=0.05)
    assert evaluated["bits_per_char"] == pytest.approx(evaluated["loss"] / math.log(2))
    scored = backend.score(
        prepared=prepared, cfg=score_config(text="def f(x):\n    return x\n"), settings=settings
    )
    assert scored["num_chars"] == 23
    sample = backend.generate(
        prepared=prepared,
        cfg=generate_config(prompt_text="The ", max_new_tokens=12, seed=3),
        settings=settings,
    )
    assert len(sample["outputs"]) == 1


def test_evaluate_needs_a_validation_split(tmp_path: Path, settings: Settings) -> None:
    cfg = train_config(model_family="fake", model_size="tiny", val_fraction=0.0)
    with pytest.raises(ModelTrainerError) as info:
        default_registry.get("fake").evaluate(run_dir=str(tmp_path), cfg=cfg, settings=settings)
    assert info.value.code == "INVALID_CONFIG"
    assert "val_fraction is 0.0" in info.value.message


def test_adapter_validates_size_and_inputs(settings: Settings) -> None:
    backend = default_registry.get("fake")
    tokenizer = CharTokenizer.from_text("abc")
    with pytest.raises(ModelTrainerError) as info:
        backend.prepare(
            train_config(model_family="fake", model_size="small"), settings, tokenizer=tokenizer
        )
    assert info.value.code == "INVALID_MODEL_SIZE"
    assert info.value.message == "model_size 'small' is not a fake size; valid sizes: tiny"


def test_require_refuses_a_capability_the_family_lacks() -> None:
    fake = BUILTIN_BACKENDS["fake"]
    lacking: BackendRegistration = {
        "backend": fake["backend"],
        "capabilities": family_capabilities(FAKE_SIZES, score=False, distributed=False),
    }
    registry = ModelRegistry({"fake": fake, "quiet": lacking})
    assert registry.require("fake", "supports_score") == fake["capabilities"]
    assert registry.require("quiet", "supports_generate") == lacking["capabilities"]
    lacked: tuple[Capability, ...] = ("supports_score", "supports_distributed")
    for capability in lacked:
        with pytest.raises(ModelTrainerError) as info:
            registry.require("quiet", capability)
        assert info.value.code == "MODEL_INCOMPATIBLE"
        assert info.value.message == (
            f"model_family 'quiet' does not support "
            f"{capability.removeprefix('supports_')} ({capability} is False)"
        )
    with pytest.raises(ModelTrainerError) as missing:
        registry.require("rnn", "supports_train")
    assert missing.value.code == "MODEL_NOT_FOUND"
    assert not registry.is_loaded("quiet")


def test_models_built_on_several_threads_at_once_start_from_their_own_seeds(
    settings: Settings,
) -> None:
    def prepare(
        cfg: ModelTrainConfig, settings: Settings, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        def slow_build() -> FakeLM:
            time.sleep(0.05)  # another thread seeds meanwhile, unless builds take turns
            return FakeLM(family_shape(cfg, FAKE_SIZES), tokenizer.vocab_size)

        return fresh_model(cfg, tokenizer, slow_build)

    backend = create_backend({**FAKE_BACKEND_FUNCS, "prepare": prepare})
    tokenizer = CharTokenizer.from_text("abcdef")

    def weights(seed: int) -> list[torch.Tensor]:
        cfg = train_config(model_family="fake", model_size="tiny", seed=seed, device="cpu")
        model = backend.prepare(cfg, settings, tokenizer=tokenizer)["model"]
        return [p.detach().clone() for p in model.parameters()]

    alone = {seed: weights(seed) for seed in (1, 2)}
    together: dict[int, list[torch.Tensor]] = {}
    threads = [
        threading.Thread(target=lambda seed=seed: together.update({seed: weights(seed)}))
        for seed in (1, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seed in (1, 2):
        assert all(torch.equal(a, b) for a, b in zip(alone[seed], together[seed], strict=True))

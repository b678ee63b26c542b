from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.nn import functional

from model_trainer.core.backends.adapter import family_shape
from model_trainer.core.backends.fake import FAKE_SIZES
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.stateful import StepModel
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.char import CharTokenizer


def _prepare(tokenizer: CharTokenizer, settings: Settings, seed: int = 0) -> PreparedLMModel:
    cfg = train_config(
        model_family="fake", model_size="tiny", max_seq_len=16, device="cpu", seed=seed
    )
    return default_registry.get("fake").prepare(cfg, settings, tokenizer=tokenizer)


def _fake(prepared: PreparedLMModel) -> FakeLM:
    model = prepared["model"]
    assert isinstance(model, FakeLM)
    return model


def test_only_tiny_exists() -> None:
    assert tuple(FAKE_SIZES) == ("tiny",)
    tiny = family_shape(train_config(model_family="fake", model_size="tiny"), FAKE_SIZES)
    assert tiny == {"num_layers": 2, "width": 32, "kernel_size": 3}
    with pytest.raises(ModelTrainerError) as info:
        family_shape(train_config(model_family="fake", model_size="small"), FAKE_SIZES)
    assert info.value.code == "INVALID_MODEL_SIZE"
    assert "'small'" in info.value.message
    assert "valid sizes: tiny" in info.value.message


def test_parameter_count_with_100_characters() -> None:
    model = FakeLM(FAKE_SIZES["tiny"], 100)
    assert sum(p.numel() for p in model.parameters()) == 12_708


def test_prepare_fills_every_field(tokenizer: CharTokenizer, settings: Settings) -> None:
    prepared = _prepare(tokenizer, settings)
    model = _fake(prepared)
    assert prepared["model_family"] == "fake"
    assert prepared["model_size"] == "tiny"
    assert prepared["tokenizer"] is tokenizer
    assert prepared["tok_for_dataset"] is tokenizer
    assert prepared["tokenizer_id"] == tokenizer.tokenizer_id
    assert (prepared["eos_id"], prepared["pad_id"]) == (tokenizer.eos_id, tokenizer.pad_id)
    assert prepared["max_seq_len"] == 16
    assert prepared["device"] == "cpu"
    assert model.vocab_size == tokenizer.vocab_size
    assert not isinstance(model, StepModel)


def test_prepare_is_seeded(tokenizer: CharTokenizer, settings: Settings) -> None:
    first = _fake(_prepare(tokenizer, settings)).state_dict()
    again = _fake(_prepare(tokenizer, settings)).state_dict()
    other = _fake(_prepare(tokenizer, settings, seed=1)).state_dict()
    torch.testing.assert_close(first["convs.1.weight"], again["convs.1.weight"])
    assert not torch.equal(first["convs.1.weight"], other["convs.1.weight"])


def test_forward_is_causal_and_ignores_the_mask(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _fake(_prepare(tokenizer, settings)).eval()
    changed = sample_ids.clone()
    changed[:, 8] = tokenizer.eos_id
    with torch.no_grad():
        before, after = model(sample_ids), model(changed)
        masked = model(sample_ids, attention_mask=torch.ones_like(sample_ids))
    assert before.shape == (2, 12, tokenizer.vocab_size)
    torch.testing.assert_close(before[:, :8], after[:, :8])
    assert not torch.allclose(before[:, 8:], after[:, 8:])
    torch.testing.assert_close(masked, before)


def test_learns_a_repeated_text_in_sixty_steps(
    tokenizer: CharTokenizer, settings: Settings
) -> None:
    model = _fake(_prepare(tokenizer, settings))
    ids = torch.tensor([tokenizer.encode("the lazy dog. " * 3)[:33]] * 8)  # (8, 33)
    inputs, targets = ids[:, :-1], ids[:, 1:]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses: list[float] = []
    for _ in range(60):
        logits = model(inputs)  # (B, T, V)
        loss = functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        torch.autograd.backward(loss)
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 3.0
    assert losses[-1] < 0.3

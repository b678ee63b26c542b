from __future__ import annotations

import pytest
import torch
from torch import Tensor

from model_trainer.core.backends.adapter import family_shape
from model_trainer.core.backends.char_lstm import CHAR_LSTM_SIZES
from model_trainer.core.backends.char_lstm.model import CharLSTM, LSTMState
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.stateful import StepModel
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.char import CharTokenizer


def _prepare(tokenizer: CharTokenizer, settings: Settings, seed: int = 0) -> PreparedLMModel:
    cfg = train_config(
        model_family="char_lstm", model_size="tiny", max_seq_len=16, device="cpu", seed=seed
    )
    return default_registry.get("char_lstm").prepare(cfg, settings, tokenizer=tokenizer)


def _lstm(prepared: PreparedLMModel) -> CharLSTM:
    model = prepared["model"]
    assert isinstance(model, CharLSTM)
    return model


def test_sizes_are_the_registry_sizes() -> None:
    sizes = default_registry.get_capabilities("char_lstm")["supported_sizes"]
    assert sizes == tuple(CHAR_LSTM_SIZES)


def test_unknown_size_lists_the_valid_ones() -> None:
    with pytest.raises(ModelTrainerError) as info:
        family_shape(train_config(model_family="char_lstm", model_size="gpt2"), CHAR_LSTM_SIZES)
    assert info.value.code == "INVALID_MODEL_SIZE"
    assert "'gpt2'" in info.value.message
    assert "tiny, small, medium, large" in info.value.message


def test_the_size_names_the_shape() -> None:
    cfg = train_config(model_family="char_lstm", model_size="large")
    assert family_shape(cfg, CHAR_LSTM_SIZES) == {
        "embed_dim": 512,
        "hidden_dim": 1024,
        "num_layers": 3,
    }


@pytest.mark.parametrize(
    ("size", "params"),
    [("tiny", 68_068), ("small", 960_100), ("medium", 3_755_108), ("large", 23_246_948)],
)
def test_parameter_counts_with_100_characters(size: str, params: int) -> None:
    with torch.device("meta"):
        model = CharLSTM(CHAR_LSTM_SIZES[size], 100)
    assert sum(p.numel() for p in model.parameters()) == params


def test_prepare_fills_every_field(tokenizer: CharTokenizer, settings: Settings) -> None:
    prepared = _prepare(tokenizer, settings)
    model = _lstm(prepared)
    assert prepared["model_family"] == "char_lstm"
    assert prepared["model_size"] == "tiny"
    assert prepared["tokenizer"] is tokenizer
    assert prepared["tok_for_dataset"] is tokenizer
    assert prepared["tokenizer_id"] == tokenizer.tokenizer_id
    assert (prepared["eos_id"], prepared["pad_id"]) == (tokenizer.eos_id, tokenizer.pad_id)
    assert prepared["max_seq_len"] == 16
    assert prepared["device"] == "cpu"
    assert model.vocab_size == tokenizer.vocab_size
    assert model.shape == CHAR_LSTM_SIZES["tiny"]
    assert model.lstm.batch_first


def test_prepare_is_seeded(tokenizer: CharTokenizer, settings: Settings) -> None:
    first = _lstm(_prepare(tokenizer, settings)).state_dict()
    again = _lstm(_prepare(tokenizer, settings)).state_dict()
    other = _lstm(_prepare(tokenizer, settings, seed=1)).state_dict()
    torch.testing.assert_close(first["lstm.weight_hh_l1"], again["lstm.weight_hh_l1"])
    assert not torch.equal(first["lstm.weight_hh_l1"], other["lstm.weight_hh_l1"])


def test_forward_is_causal_and_ignores_the_mask(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _lstm(_prepare(tokenizer, settings)).eval()
    changed = sample_ids.clone()
    changed[:, 8] = tokenizer.eos_id
    with torch.no_grad():
        before, after = model(sample_ids), model(changed)
        masked = model(sample_ids, attention_mask=torch.ones_like(sample_ids))
    assert before.shape == (2, 12, tokenizer.vocab_size)
    torch.testing.assert_close(before[:, :8], after[:, :8])
    assert not torch.allclose(before[:, 8:], after[:, 8:])
    torch.testing.assert_close(masked, before)


def test_step_in_chunks_equals_forward(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _lstm(_prepare(tokenizer, settings)).eval()
    with torch.no_grad():
        full = model(sample_ids)
        logits, state = model.step(sample_ids[:, :5], None)
        pieces = [logits]
        for start, end in ((5, 6), (6, 9), (9, 12)):
            logits, state = model.step(sample_ids[:, start:end], state)
            pieces.append(logits)
    stepper: StepModel[LSTMState] = model
    assert isinstance(stepper, StepModel)
    hidden, cell = state
    assert hidden.shape == cell.shape == (2, 2, 64)  # (layers, B, H)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full)


def test_forward_and_backward_under_cpu_bf16_autocast() -> None:
    model = CharLSTM({"embed_dim": 8, "hidden_dim": 16, "num_layers": 2}, vocab_size=11)
    ids = torch.randint(0, 11, (2, 5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(ids)  # (B, T, V)
    assert logits.shape == (2, 5, 11)
    logits.float().sum().backward()
    assert model.embed.weight.grad is not None
    assert model.embed.weight.dtype == torch.float32

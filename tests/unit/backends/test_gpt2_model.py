from __future__ import annotations

import pytest
import torch
from torch import Tensor
from transformers import GPT2LMHeadModel

from model_trainer.core.backends.adapter import family_shape
from model_trainer.core.backends.gpt2 import GPT2_SIZES
from model_trainer.core.backends.gpt2.config import build_gpt2_config
from model_trainer.core.backends.gpt2.model import GPT2LM, BiasFreeConv1D, GPT2State
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.stateful import StepModel
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.char import CharTokenizer


class _LogitsOut:
    logits: Tensor


def _prepare(tokenizer: CharTokenizer, settings: Settings, seed: int = 0) -> PreparedLMModel:
    cfg = train_config(
        model_family="gpt2", model_size="tiny", max_seq_len=16, device="cpu", seed=seed
    )
    return default_registry.get("gpt2").prepare(cfg, settings, tokenizer=tokenizer)


def _gpt2(prepared: PreparedLMModel) -> GPT2LM:
    model = prepared["model"]
    assert isinstance(model, GPT2LM)
    return model


def test_sizes_are_the_registry_sizes() -> None:
    assert default_registry.get_capabilities("gpt2")["supported_sizes"] == tuple(GPT2_SIZES)


def test_unknown_size_lists_the_valid_ones() -> None:
    with pytest.raises(ModelTrainerError) as info:
        family_shape(train_config(model_family="gpt2", model_size="huge"), GPT2_SIZES)
    assert info.value.code == "INVALID_MODEL_SIZE"
    assert "'huge'" in info.value.message
    assert "tiny, small, medium, gpt2" in info.value.message


def test_the_size_names_the_shape() -> None:
    cfg = train_config(model_family="gpt2", model_size="medium")
    assert family_shape(cfg, GPT2_SIZES) == {"n_layer": 6, "n_head": 6, "n_embd": 384}


def test_config_is_set_up_for_speed() -> None:
    config = build_gpt2_config(GPT2_SIZES["small"], vocab_size=70, n_positions=48, eos_id=1)
    assert (config.n_layer, config.n_head, config.n_embd) == (4, 4, 128)
    assert (config.vocab_size, config.n_positions) == (70, 48)
    assert config.activation_function == "gelu_pytorch_tanh"
    assert (config.resid_pdrop, config.embd_pdrop, config.attn_pdrop) == (0.0, 0.0, 0.0)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (1, 1, None)
    assert config.tie_word_embeddings
    with_dropout = build_gpt2_config(
        GPT2_SIZES["tiny"], vocab_size=70, n_positions=48, eos_id=1, dropout=0.1
    )
    assert (with_dropout.resid_pdrop, with_dropout.embd_pdrop, with_dropout.attn_pdrop) == (
        0.1,
        0.1,
        0.1,
    )


@pytest.mark.parametrize(
    ("size", "params"),
    [("tiny", 3_382_080), ("small", 7_357_312), ("medium", 30_339_456), ("gpt2", 124_439_808)],
)
def test_parameter_counts_with_the_gpt2_vocabulary(size: str, params: int) -> None:
    config = build_gpt2_config(GPT2_SIZES[size], vocab_size=50257, n_positions=1024, eos_id=1)
    with torch.device("meta"):
        model = GPT2LM.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == params


def test_prepare_fills_every_field(tokenizer: CharTokenizer, settings: Settings) -> None:
    prepared = _prepare(tokenizer, settings)
    model = _gpt2(prepared)
    assert prepared["model_family"] == "gpt2"
    assert prepared["model_size"] == "tiny"
    assert prepared["tokenizer"] is tokenizer
    assert prepared["tok_for_dataset"] is tokenizer
    assert prepared["tokenizer_id"] == tokenizer.tokenizer_id
    assert (prepared["eos_id"], prepared["pad_id"]) == (tokenizer.eos_id, tokenizer.pad_id)
    assert prepared["max_seq_len"] == 16
    assert prepared["device"] == "cpu"
    assert model.config.n_positions == 16
    assert model.config.vocab_size == tokenizer.vocab_size
    assert model.config.eos_token_id == tokenizer.eos_id
    assert model.config._attn_implementation == "sdpa"
    assert model.hf.lm_head.weight is model.hf.transformer.wte.weight


def test_prepare_is_seeded(tokenizer: CharTokenizer, settings: Settings) -> None:
    first = _gpt2(_prepare(tokenizer, settings)).state_dict()
    again = _gpt2(_prepare(tokenizer, settings)).state_dict()
    other = _gpt2(_prepare(tokenizer, settings, seed=1)).state_dict()
    name = "hf.transformer.h.0.attn.c_attn.weight"
    torch.testing.assert_close(first[name], again[name])
    assert not torch.equal(first[name], other[name])


def test_forward_equals_hugging_face_model(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _gpt2(_prepare(tokenizer, settings)).eval()
    by_hand = GPT2LMHeadModel(model.config)  # no dropout: train mode computes the same
    by_hand.load_state_dict(model.hf.state_dict())
    ids = sample_ids
    expected: _LogitsOut = by_hand(input_ids=ids)
    logits = model(ids)
    assert logits.shape == (2, 12, tokenizer.vocab_size)
    torch.testing.assert_close(logits, expected.logits)


def test_a_fresh_model_trains_no_conv_biases_and_keeps_hugging_faces_names(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _gpt2(_prepare(tokenizer, settings))
    plain = GPT2LMHeadModel(model.config)
    assert list(model.hf.state_dict()) == list(plain.state_dict())
    layers = [m for m in model.modules() if isinstance(m, BiasFreeConv1D)]
    assert len(layers) == 4 * model.config.n_layer
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    before = {name: p.clone() for name, p in model.named_parameters()}
    logits = model(sample_ids)
    torch.autograd.backward(logits.square().mean())
    optimizer.step()
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    conv_biases = {
        name
        for name, _ in model.named_parameters()
        if name.endswith(("c_attn.bias", "c_proj.bias", "c_fc.bias"))
    }
    assert len(conv_biases) == 4 * model.config.n_layer
    assert not moved & conv_biases
    assert "hf.transformer.h.0.attn.c_attn.weight" in moved
    assert "hf.transformer.h.0.ln_1.bias" in moved
    assert all(not p.any() for name, p in model.named_parameters() if name in conv_biases)


def test_a_state_dict_with_conv_biases_does_not_load_into_a_bias_free_model(
    tokenizer: CharTokenizer, settings: Settings
) -> None:
    model = _gpt2(_prepare(tokenizer, settings))
    weights = {name: value.clone() for name, value in model.state_dict().items()}
    model.load_state_dict(weights)
    weights["hf.transformer.h.1.mlp.c_fc.bias"][3] = 0.5
    with pytest.raises(ModelTrainerError) as raised:
        model.load_state_dict(weights)
    assert raised.value.code == "MODEL_INCOMPATIBLE"
    assert "Conv1D bias" in raised.value.message


def test_forward_is_causal(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _gpt2(_prepare(tokenizer, settings)).eval()
    ids = sample_ids
    changed = ids.clone()
    changed[:, 8] = tokenizer.eos_id
    with torch.no_grad():
        before, after = model(ids), model(changed)
    torch.testing.assert_close(before[:, :8], after[:, :8])
    assert not torch.allclose(before[:, 8:], after[:, 8:])


def test_forward_uses_the_attention_mask(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _gpt2(_prepare(tokenizer, settings)).eval()
    ids = sample_ids
    mask = torch.ones_like(ids)
    mask[:, :3] = 0
    with torch.no_grad():
        plain = model(ids)
        masked = model(ids, attention_mask=mask)
        all_ones = model(ids, attention_mask=torch.ones_like(ids))
    torch.testing.assert_close(all_ones, plain)
    assert not torch.allclose(masked[:, 3:], plain[:, 3:])


def test_step_equals_forward(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _gpt2(_prepare(tokenizer, settings)).eval()
    ids = sample_ids
    with torch.no_grad():
        full = model(ids)
        logits, state = model.step(ids[:, :5], None)
        pieces = [logits]
        for position in range(5, ids.shape[1]):
            assert state.length == position
            logits, state = model.step(ids[:, position : position + 1], state)
            pieces.append(logits)
    stepper: StepModel[GPT2State] = model
    assert isinstance(stepper, StepModel)
    assert state.length == ids.shape[1]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full)


def test_step_reads_pieces_of_any_length_after_a_past(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _gpt2(_prepare(tokenizer, settings)).eval()
    ids = sample_ids
    with torch.no_grad():
        full = model(ids)
        pieces: list[Tensor] = []
        state: GPT2State | None = None
        for start, end in ((0, 1), (1, 4), (4, 5), (5, 9), (9, ids.shape[1])):
            logits, state = model.step(ids[:, start:end], state)
            pieces.append(logits)
            assert state.length == end
    torch.testing.assert_close(torch.cat(pieces, dim=1), full)


def test_forward_applies_the_configured_dropout_in_training_only(sample_ids: Tensor) -> None:
    config = build_gpt2_config(
        GPT2_SIZES["tiny"], vocab_size=64, n_positions=16, eos_id=0, dropout=0.5
    )
    torch.manual_seed(0)
    model = GPT2LM.from_config(config)
    ids = sample_ids % 64
    assert not torch.equal(model(ids), model(ids))
    model.eval()
    torch.testing.assert_close(model(ids), model(ids))


def test_forward_refuses_a_layer_that_is_not_a_gpt2_block(
    tokenizer: CharTokenizer, settings: Settings, sample_ids: Tensor
) -> None:
    model = _gpt2(_prepare(tokenizer, settings))
    model.hf.transformer.h[1] = torch.nn.Identity()
    with pytest.raises(TypeError, match="layer 1 is a Identity, not a GPT2Block"):
        model(sample_ids)

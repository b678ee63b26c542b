"""GPT-2 as a ``LMModelProto`` and ``StepModel``: a thin module around Hugging Face's model.

Two things Hugging Face's model does on every training step that this kit's use does not need
are left out, while the model stays a ``GPT2LMHeadModel`` whose saved folder
``from_pretrained`` loads:

- ``forward`` without an attention mask, and ``step``, run Hugging Face's modules (its
  embeddings, layer norms, ``Conv1D`` layers, MLPs, dropouts and head) in GPT-2's order,
  with causal attention through SDPA (``lean_block``). ``GPT2Model.forward`` would also
  build position ids, scan them for packed sequences (a ``diff``, a ``cumsum`` and a
  read-back to the host, which stalls a GPU once per step) and prepare a mask that SDPA's
  causal kernel does not use; its blocks add a cache, cross-attention and an attention
  registry that this kit's use never takes, a Python cost on every layer of every step.
  ``step`` keeps keys and values in buffers of the model's context, written in place.
- A model built fresh (``from_config``) has no trained biases in its ``Conv1D`` layers, as
  nanoGPT's ``bias=False``: they stay at zero, so each layer is one matrix product
  (``BiasFreeConv1D``) instead of an ``addmm`` that copies the bias into every output and a
  bias-gradient reduction in every backward pass. The zero biases are still saved, under
  Hugging Face's names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.models.gpt2.modeling_gpt2 import GPT2Block
from transformers.pytorch_utils import Conv1D

from model_trainer.core.errors import ModelTrainerError

ATTENTION = "sdpa"


class _LogitsOut(Protocol):
    logits: Tensor


class _PostHooks(Protocol):
    def __call__(self, hook: Callable[[nn.Module, object], None]) -> object: ...


def _require_zero_bias(module: nn.Module, incompatible: object) -> None:
    """After a state dict is loaded: the bias a ``BiasFreeConv1D`` ignores must be zero."""
    del incompatible
    if module.get_parameter("bias").any():
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            "checkpoint: a Conv1D bias of this GPT-2 is not zero; the model trains without "
            "Conv1D biases (load the saved folder with load_gpt2 to use it)",
        )


class BiasFreeConv1D(nn.Module):
    """GPT-2's ``Conv1D`` (``x @ weight``, ``weight`` of shape ``(in, out)``), bias held at zero.

    Holds the ``weight`` and ``bias`` parameters it is given, under the same names, so the
    state dict is Hugging Face's; the bias is zeroed and never trained, and a state dict
    loaded into it must hold a zero bias (``MODEL_INCOMPATIBLE`` otherwise).
    """

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter) -> None:
        super().__init__()
        self.weight = weight
        self.bias = bias
        bias.requires_grad_(False)
        with torch.no_grad():
            bias.zero_()
        register: _PostHooks = self.register_load_state_dict_post_hook
        register(_require_zero_bias)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(..., in)`` times the weight: ``(..., out)``."""
        out = x.reshape(-1, x.shape[-1]) @ self.weight  # (N, out)
        return out.view(*x.shape[:-1], out.shape[-1])


def drop_conv_biases(hf: GPT2LMHeadModel) -> None:
    """Replace every ``Conv1D`` of ``hf`` by a ``BiasFreeConv1D`` on the same parameters."""
    for parent in list(hf.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                setattr(parent, name, BiasFreeConv1D(child.weight, child.bias))


class GPT2State:
    """The keys and values of the tokens read so far, and how many (``length``).

    Each layer's keys and values sit in a ``(B, H, N, D)`` buffer of the model's context
    ``N``; ``GPT2LM.step`` writes the next tokens' in place.
    """

    def __init__(self, keys: list[Tensor], values: list[Tensor], length: int) -> None:
        self.keys = keys
        self.values = values
        self._length = length

    @property
    def length(self) -> int:
        """Number of tokens read so far (the next token's position)."""
        return self._length


def lean_block(
    block: GPT2Block, x: Tensor, past: GPT2State | None = None, layer: int = 0
) -> Tensor:
    """Hugging Face's GPT-2 block ``block`` on ``x`` ``(B, T, C)``, causal, without a mask.

    With ``past``, ``x`` follows its ``past.length`` tokens: the keys and values of ``x`` are
    written into layer ``layer``'s buffers and the queries attend to all that came before.
    """
    attn = block.attn
    b, t, c = x.shape
    heads = attn.num_heads
    q, k, v = attn.c_attn(block.ln_1(x)).split(c, dim=2)  # each (B, T, C)
    q = q.view(b, t, heads, c // heads).transpose(1, 2)  # (B, H, T, D)
    k = k.view(b, t, heads, c // heads).transpose(1, 2)  # (B, H, T, D)
    v = v.view(b, t, heads, c // heads).transpose(1, 2)  # (B, H, T, D)
    start = 0 if past is None else past.length
    if past is not None:
        past.keys[layer][:, :, start : start + t] = k
        past.values[layer][:, :, start : start + t] = v
        k = past.keys[layer][:, :, : start + t]  # (B, H, L, D)
        v = past.values[layer][:, :, : start + t]  # (B, H, L, D)
    mask: Tensor | None = None
    if start and t > 1:  # the new queries see every earlier token, and each other causally
        mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)  # (T, L)
    y = functional.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=mask,
        dropout_p=attn.attn_dropout.p if attn.training else 0.0,
        is_causal=start == 0 and t > 1,
        scale=attn.scaling,
    )  # (B, H, T, D)
    x = x + attn.resid_dropout(attn.c_proj(y.transpose(1, 2).reshape(b, t, c)))
    out: Tensor = x + block.mlp(block.ln_2(x))
    return out


class GPT2LM(nn.Module):
    """A Hugging Face ``GPT2LMHeadModel`` (``.hf``) with logits as its output."""

    def __init__(self, hf: GPT2LMHeadModel) -> None:
        super().__init__()
        self.hf = hf

    @classmethod
    def from_config(cls, config: GPT2Config) -> GPT2LM:
        """A freshly initialised model of ``config``: SDPA attention, no ``Conv1D`` biases.

        Seed torch first for repeatable weights.
        """
        hf = GPT2LMHeadModel(config)
        hf.set_attn_implementation(ATTENTION)
        drop_conv_biases(hf)
        return cls(hf)

    @property
    def config(self) -> GPT2Config:
        """The Hugging Face config of the model."""
        return self.hf.config

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Return the logits ``(B, T, vocab)`` of ``input_ids`` ``(B, T)``.

        Without a mask: Hugging Face's modules in GPT-2's order (``lean_block``), causal
        attention through SDPA's ``is_causal``; with one, Hugging Face's whole forward.
        """
        if attention_mask is not None:
            out: _LogitsOut = self.hf(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            )
            return out.logits
        return self._run(input_ids, None)

    def step(self, input_ids: Tensor, state: GPT2State | None) -> tuple[Tensor, GPT2State]:
        """Read ``input_ids`` ``(B, T)`` after the tokens in ``state`` (its buffers written)."""
        if state is None:
            config = self.hf.config
            b, heads = input_ids.shape[0], config.n_head
            shape = (b, heads, config.n_positions, config.n_embd // heads)  # (B, H, N, D)
            dtype = self.hf.transformer.wte.weight.dtype
            keys = [input_ids.new_empty(shape, dtype=dtype) for _ in range(config.n_layer)]
            values = [input_ids.new_empty(shape, dtype=dtype) for _ in range(config.n_layer)]
            state = GPT2State(keys, values, 0)
        logits = self._run(input_ids, state)
        return logits, GPT2State(state.keys, state.values, state.length + input_ids.shape[1])

    def _run(self, input_ids: Tensor, past: GPT2State | None) -> Tensor:
        body = self.hf.transformer
        start = 0 if past is None else past.length
        positions = torch.arange(start, start + input_ids.shape[1], device=input_ids.device)
        hidden: Tensor = body.drop(body.wte(input_ids) + body.wpe(positions))  # (B, T, C)
        for layer, block in enumerate(body.h):
            if not isinstance(block, GPT2Block):
                raise TypeError(f"layer {layer} is a {type(block).__name__}, not a GPT2Block")
            hidden = lean_block(block, hidden, past, layer)  # (B, T, C)
        logits: Tensor = self.hf.lm_head(body.ln_f(hidden))  # (B, T, V)
        return logits

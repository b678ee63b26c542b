"""GPT-2 as a ``LMModelProto`` and ``StepModel``: a thin module around Hugging Face's model.

Two things Hugging Face's model does on every training step that this kit's use does not need
are left out, while the model stays a ``GPT2LMHeadModel`` whose saved folder
``from_pretrained`` loads:

- ``forward`` without an attention mask runs the embeddings, Hugging Face's own blocks and
  the head directly. ``GPT2Model.forward`` would also build position ids, scan them for
  packed sequences (a ``diff``, a ``cumsum`` and a read-back to the host, which stalls a GPU
  once per step) and prepare a mask that SDPA's causal kernel does not use.
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
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel
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
    """The key/value cache of the tokens read so far; ``length`` says how many."""

    def __init__(self, cache: DynamicCache) -> None:
        self._cache = cache

    @property
    def cache(self) -> DynamicCache:
        """The Hugging Face cache; ``GPT2LM.step`` extends it in place."""
        return self._cache

    @property
    def length(self) -> int:
        """Number of tokens read so far (the next token's position)."""
        return self._cache.get_seq_length()


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

        Without a mask: Hugging Face's modules in ``GPT2Model.forward``'s order, causal
        attention through SDPA's ``is_causal``; with one, Hugging Face's whole forward.
        """
        if attention_mask is not None:
            out: _LogitsOut = self.hf(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            )
            return out.logits
        body = self.hf.transformer
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        hidden: Tensor = body.drop(body.wte(input_ids) + body.wpe(positions))  # (B, T, C)
        for block in body.h:
            hidden = block(hidden)  # (B, T, C)
        logits: Tensor = self.hf.lm_head(body.ln_f(hidden))  # (B, T, V)
        return logits

    def step(self, input_ids: Tensor, state: GPT2State | None) -> tuple[Tensor, GPT2State]:
        """Read ``input_ids`` ``(B, T)`` after the tokens in ``state`` (advanced in place)."""
        cache = DynamicCache(config=self.hf.config) if state is None else state.cache
        out: _LogitsOut = self.hf(input_ids=input_ids, cache=cache, use_cache=True)
        return out.logits, GPT2State(cache)

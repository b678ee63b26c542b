"""GPT-2 as a ``LMModelProto`` and ``StepModel``: a thin module around Hugging Face's model."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor, nn
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel

ATTENTION = "sdpa"


class _LogitsOut(Protocol):
    logits: Tensor


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
        """A freshly initialised model of ``config`` using PyTorch's fused attention (SDPA).

        Seed torch first for repeatable weights.
        """
        hf = GPT2LMHeadModel(config)
        hf.set_attn_implementation(ATTENTION)
        return cls(hf)

    @property
    def config(self) -> GPT2Config:
        """The Hugging Face config of the model."""
        return self.hf.config

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Return the logits ``(B, T, vocab)`` of ``input_ids`` ``(B, T)``."""
        out: _LogitsOut = self.hf(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        )
        return out.logits

    def step(self, input_ids: Tensor, state: GPT2State | None) -> tuple[Tensor, GPT2State]:
        """Read ``input_ids`` ``(B, T)`` after the tokens in ``state`` (advanced in place)."""
        cache = DynamicCache(config=self.hf.config) if state is None else state.cache
        out: _LogitsOut = self.hf(input_ids=input_ids, cache=cache, use_cache=True)
        return out.logits, GPT2State(cache)

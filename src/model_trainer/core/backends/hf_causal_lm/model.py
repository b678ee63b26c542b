"""Any Hugging Face causal LM as a ``LMModelProto`` and ``StepModel``, its own cache carried."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor, nn
from transformers import DynamicCache, PretrainedConfig, PreTrainedModel
from transformers.utils import logging as hf_logging


class _Switch(Protocol):
    def __call__(self) -> None: ...


def quiet_progress() -> None:
    """Turn Hugging Face's progress bars off: a local load or save takes a moment."""
    switch: _Switch = hf_logging.disable_progress_bar
    switch()


class _LogitsOut(Protocol):
    logits: Tensor


class _Checkpointing(Protocol):
    def activation_checkpointing_enable(
        self, activation_checkpointing_kwargs: dict[str, bool] | None = None
    ) -> None: ...


class Adapter(Protocol):
    """LoRA adapters on a model (a ``peft`` model): saved apart, or merged into it."""

    def save_pretrained(self, save_directory: str) -> None:
        """Write the adapters' config and weights into ``save_directory``."""
        ...

    def merge_and_unload(self) -> nn.Module:
        """Merge the adapters into the weights and take them off; return the model."""
        ...


class CausalLMState:
    """The key/value cache of the tokens read so far; ``length`` says how many."""

    def __init__(self, cache: DynamicCache) -> None:
        self._cache = cache

    @property
    def cache(self) -> DynamicCache:
        """The Hugging Face cache; ``HFCausalLM.step`` extends it in place."""
        return self._cache

    @property
    def length(self) -> int:
        """Number of tokens read so far (the next token's position)."""
        return self._cache.get_seq_length()


class HFCausalLM(nn.Module):
    """A Hugging Face causal LM (``.hf``, any architecture) with logits as its output.

    ``start_id`` is the id a text is read after (its tokenizer's BOS). ``adapters`` holds
    the ``peft`` model when LoRA adapters were added to ``hf`` (in place: ``hf`` runs with
    them); it is a list so that its weights are not counted twice.
    """

    def __init__(self, hf: PreTrainedModel, start_id: int) -> None:
        super().__init__()
        self.hf = hf
        self.start_id = start_id
        self.adapters: list[Adapter] = []

    def gradient_checkpointing(self) -> None:
        """Recompute activations in the backward pass instead of keeping them."""
        switch: _Checkpointing = self.hf
        switch.activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": False}
        )

    @property
    def config(self) -> PretrainedConfig:
        """The Hugging Face config of the model."""
        return self.hf.config

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Return the logits ``(B, T, vocab)`` of ``input_ids`` ``(B, T)``."""
        out: _LogitsOut = self.hf(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        )
        return out.logits

    def step(self, input_ids: Tensor, state: CausalLMState | None) -> tuple[Tensor, CausalLMState]:
        """Read ``input_ids`` ``(B, T)`` after the tokens in ``state`` (advanced in place)."""
        cache = DynamicCache(config=self.hf.config) if state is None else state.cache
        out: _LogitsOut = self.hf(input_ids=input_ids, cache=cache, use_cache=True)
        return out.logits, CausalLMState(cache)

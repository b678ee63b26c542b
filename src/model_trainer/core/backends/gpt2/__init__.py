"""The GPT-2 family: its sizes and capabilities, known without importing its model code."""

from __future__ import annotations

from typing import TypedDict

from model_trainer.core.backends.family import BackendRegistration, family_capabilities


class GPT2Shape(TypedDict):
    """Depth, attention heads and width of a GPT-2 model."""

    n_layer: int
    n_head: int
    n_embd: int


GPT2_SIZES: dict[str, GPT2Shape] = {
    "tiny": {"n_layer": 2, "n_head": 2, "n_embd": 64},
    "small": {"n_layer": 4, "n_head": 4, "n_embd": 128},
    "medium": {"n_layer": 6, "n_head": 6, "n_embd": 384},
    "gpt2": {"n_layer": 12, "n_head": 12, "n_embd": 768},
}

CAPABILITIES = family_capabilities(GPT2_SIZES)


REGISTRATION: BackendRegistration = {
    "backend": "model_trainer.core.backends.gpt2.backend:gpt2_backend",
    "capabilities": CAPABILITIES,
}

"""Pretrained Hugging Face causal LMs: their one size and capabilities, known without torch.

A model of this family is not built from a size: it is loaded from a source (a local
folder, or a model id in the Hugging Face cache) by ``mt.load_model`` or, to fine-tune, by a
run whose ``init_from`` names it. Its one size, ``pretrained``, says so.
"""

from __future__ import annotations

from typing import Final, TypedDict

from model_trainer.core.backends.family import BackendRegistration, family_capabilities

FAMILY: Final = "hf_causal_lm"
SIZE: Final = "pretrained"


class PretrainedShape(TypedDict):
    """The shape of a pretrained model is its checkpoint's: nothing to choose here."""


SIZES: dict[str, PretrainedShape] = {SIZE: {}}

CAPABILITIES = family_capabilities(SIZES, distributed=False)


REGISTRATION: BackendRegistration = {
    "backend": "model_trainer.core.backends.hf_causal_lm.backend:hf_causal_lm_backend",
    "capabilities": CAPABILITIES,
    "from_source": {"model_size": SIZE, "tokenizer_kind": "pretrained"},
}

"""GPT-2 shapes by size name, and the Hugging Face config a shape is built from."""

from __future__ import annotations

from typing import TypedDict

from transformers import GPT2Config

from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.errors import ModelTrainerError


class GPT2Shape(TypedDict):
    """Depth, attention heads and width of a GPT-2 model."""

    n_layer: int
    n_head: int
    n_embd: int


class GPT2TrainConfig(TypedDict):
    """A training config with the shape its ``model_size`` names."""

    shape: GPT2Shape
    train: ModelTrainConfig


GPT2_SIZES: dict[str, GPT2Shape] = {
    "tiny": {"n_layer": 2, "n_head": 2, "n_embd": 64},
    "small": {"n_layer": 4, "n_head": 4, "n_embd": 128},
    "medium": {"n_layer": 6, "n_head": 6, "n_embd": 384},
    "gpt2": {"n_layer": 12, "n_head": 12, "n_embd": 768},
}


def size_shape(size: str) -> GPT2Shape:
    """The shape of GPT-2 size ``size``.

    Raises:
        ModelTrainerError: ``INVALID_MODEL_SIZE`` listing the valid sizes.
    """
    if size not in GPT2_SIZES:
        raise ModelTrainerError(
            "INVALID_MODEL_SIZE",
            f"model_size {size!r} is not a gpt2 size; valid: {', '.join(GPT2_SIZES)}",
        )
    return GPT2_SIZES[size]


def convert_gpt2_config(cfg: ModelTrainConfig) -> GPT2TrainConfig:
    """Attach the shape of ``cfg["model_size"]`` to ``cfg``."""
    return {"shape": size_shape(cfg["model_size"]), "train": cfg}


def build_gpt2_config(
    shape: GPT2Shape, *, vocab_size: int, n_positions: int, eos_id: int, dropout: float = 0.0
) -> GPT2Config:
    """A Hugging Face ``GPT2Config`` of ``shape``, set up for fast training of small models.

    ``gelu_pytorch_tanh`` is GPT-2's own activation as one fused kernel (``gelu_new`` runs
    several). Dropout defaults to 0: small models trained briefly on small data do not
    overfit enough for it to pay. ``pad_token_id`` stays unset, as in OpenAI's GPT-2: with it
    set, every forward pass without an attention mask scans the input for padding, a
    device-to-host copy per step; the pad id lives in the tokenizer.
    """
    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_layer=shape["n_layer"],
        n_head=shape["n_head"],
        n_embd=shape["n_embd"],
        activation_function="gelu_pytorch_tanh",
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=True,
    )

"""The Hugging Face config a GPT-2 shape is built from."""

from __future__ import annotations

from transformers import GPT2Config

from model_trainer.core.backends.gpt2 import GPT2Shape


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

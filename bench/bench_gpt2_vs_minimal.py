"""Our GPT-2 (Hugging Face's model, as gpt2/config.py sets it up) against a minimal GPT.

The minimal GPT is nanoGPT's model without biases: the same depth, heads, width, context and
vocabulary, ``F.scaled_dot_product_attention`` and tanh-GELU. Both train with the same plain
step and batches, and the AdamW every run of the kit trains with (``make_optimizer``: fused,
decay on matrices and embeddings only); a reference figure repeats it with torch's default
AdamW. A last figure does the same for Hugging Face's default ``GPT2Config`` (``gelu_new``,
dropout 0.1), the model people get without our config.
"""

from __future__ import annotations

import copy
import math
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional
from transformers import GPT2Config, GPT2LMHeadModel

import common
import harness
from model_trainer.core.backends.gpt2 import GPT2_SIZES, GPT2Shape
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.training.optimizer import make_optimizer

TARGET = 1.0
LR = 3e-4


class Block(nn.Module):
    """Pre-norm transformer block without biases."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width, bias=False)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.ln_2 = nn.LayerNorm(width, bias=False)
        self.fc = nn.Linear(width, 4 * width, bias=False)
        self.out = nn.Linear(4 * width, width, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(self.ln_1(x)).split(c, dim=2)  # each (B, T, C)
        q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)  # (B, H, T, D)
        k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)  # (B, H, T, D)
        v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)  # (B, H, T, D)
        y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        mlp: Tensor = self.out(functional.gelu(self.fc(self.ln_2(x)), approximate="tanh"))
        return x + mlp


class MinimalGPT(nn.Module):
    """nanoGPT's GPT without biases: token and position embeddings, blocks, tied head."""

    def __init__(self, shape: GPT2Shape, *, vocab_size: int, context: int) -> None:
        super().__init__()
        width = shape["n_embd"]
        self.wte = nn.Embedding(vocab_size, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, shape["n_head"]) for _ in range(shape["n_layer"]))
        self.ln_f = nn.LayerNorm(width, bias=False)
        self.head = nn.Linear(width, vocab_size, bias=False)
        self.head.weight = self.wte.weight
        for name, param in self.named_parameters():
            if param.dim() == 2:
                std = (
                    0.02 / math.sqrt(2 * shape["n_layer"]) if name.endswith("out.weight") else 0.02
                )
                nn.init.normal_(param, std=std)

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1])  # (T,)
        x = self.wte(ids) + self.wpe(positions)  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits: Tensor = self.head(self.ln_f(x))  # (B, T, V)
        return logits


def default_hf(shape: GPT2Shape, *, vocab_size: int, context: int, eos_id: int) -> GPT2LMHeadModel:
    """Hugging Face's GPT-2 as its default config builds it, at our shape and vocabulary."""
    return GPT2LMHeadModel(
        GPT2Config(
            vocab_size=vocab_size,
            n_positions=context,
            n_layer=shape["n_layer"],
            n_head=shape["n_head"],
            n_embd=shape["n_embd"],
            bos_token_id=eos_id,
            eos_token_id=eos_id,
        )
    )


class _LogitsOut(Protocol):
    logits: Tensor


class HFLogits(nn.Module):
    """Hugging Face's model with logits as its output, as ``GPT2LM`` calls it."""

    def __init__(self, hf: GPT2LMHeadModel) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, ids: Tensor) -> Tensor:
        out: _LogitsOut = self.hf(input_ids=ids, use_cache=False)
        return out.logits


def trainer_of(
    model: nn.Module, data: list[tuple[Tensor, Tensor]], *, plain_adamw: bool = False
) -> harness.Measure:
    """Steps of ``model`` with the kit's AdamW, or torch's default one (``plain_adamw``)."""
    optimizer = (
        torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
        if plain_adamw
        else make_optimizer(model.parameters(), lr=LR, weight_decay=0.01, device="cpu")
    )
    model.train()
    return lambda: harness.rate(lambda: common.plain_steps(model, optimizer, data))


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    shape = common.gpt2_shape(opts["quick"])
    gpt2_shape = GPT2_SIZES[shape["size"]]
    tokenizer = common.char_tokenizer()
    vocab = tokenizer.vocab_size
    data = common.batches(shape)
    ours = common.prepared("gpt2", shape)["model"]
    if not isinstance(ours, GPT2LM):
        raise TypeError(f"expected a GPT2LM, got {type(ours).__name__}")
    minimal = MinimalGPT(gpt2_shape, vocab_size=vocab, context=shape["seq_len"])
    default = HFLogits(
        default_hf(gpt2_shape, vocab_size=vocab, context=shape["seq_len"], eos_id=tokenizer.eos_id)
    )
    run_ours = trainer_of(ours, data)
    run_minimal = trainer_of(minimal, data)
    run_default = trainer_of(default, data)
    harness.maybe_profile(opts, "ours", run_ours)
    harness.maybe_profile(opts, "minimal", run_minimal)
    harness.maybe_profile(opts, "hf default", run_default)
    mine, base = harness.alternate(run_ours, run_minimal, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"gpt2_{shape['size']}_vs_minimal_gpt_train",
            mine,
            base,
            unit="tokens/s",
            target=TARGET,
        )
    )
    # The same two models, each a fresh copy, with torch's default AdamW (foreach): the
    # per-tensor work of GPT-2's layer-norm biases, which the minimal GPT lacks, shows here.
    mine, base = harness.alternate(
        trainer_of(copy.deepcopy(ours), data, plain_adamw=True),
        trainer_of(copy.deepcopy(minimal), data, plain_adamw=True),
        rounds=opts["rounds"],
    )
    harness.emit(
        harness.figure(
            f"gpt2_{shape['size']}_vs_minimal_gpt_train_torch_default_adamw",
            mine,
            base,
            unit="tokens/s",
            target=0.0,
        )
    )
    hf_values, base = harness.alternate(run_default, run_minimal, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"hf_default_gpt2_{shape['size']}_vs_minimal_gpt_train",
            hf_values,
            base,
            unit="tokens/s",
            target=0.0,
        )
    )


if __name__ == "__main__":
    main()

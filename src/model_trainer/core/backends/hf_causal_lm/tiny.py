"""Tiny pretrained-shape checkpoints, built and saved locally: no download, random weights.

``save_tiny_checkpoint(folder, arch, text)`` trains a tokenizer on ``text`` with
``tokenizers`` and writes a Hugging Face folder (``save_pretrained``) that ``load_model``
and ``AutoModelForCausalLM`` open like any other:

- ``gpt2``: GPT-2 with a byte-level BPE (offsets trimmed of spaces, as GPT-2's are);
- ``gpt_neox``: GPT-NeoX (Pythia's architecture) with a byte-level BPE;
- ``llama``: Llama with a SentencePiece-style BPE (``▁`` for spaces, a ``▁`` put before
  the text, byte fallback: characters outside the vocabulary become ``<0xNN>`` tokens).

Tests, the benchmarks and the tutorial use them instead of a downloaded model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final, Literal, Protocol, get_args

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers as tok_trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from model_trainer.core.backends.hf_causal_lm.model import quiet_progress
from model_trainer.core.tokenizers.pretrained import HFTokenizer, PretrainedTokenizer

Arch = Literal["gpt2", "gpt_neox", "llama"]
ARCHS: Final[tuple[Arch, ...]] = get_args(Arch)
ENDOFTEXT: Final = "<|endoftext|>"
LLAMA_SPECIALS: Final = ("<unk>", "<s>", "</s>")  # ids 0, 1 and 2


class _Wrap(Protocol):
    def __call__(
        self,
        *,
        tokenizer_object: Tokenizer,
        bos_token: str,
        eos_token: str,
        unk_token: str | None = None,
    ) -> HFTokenizer: ...


_wrap: _Wrap = PreTrainedTokenizerFast


def _byte_level(text: str, vocab_size: int) -> HFTokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = tok_trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[ENDOFTEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([text], trainer=trainer)  # its one special token is id 0
    return _wrap(tokenizer_object=tokenizer, bos_token=ENDOFTEXT, eos_token=ENDOFTEXT)


def _byte_fallback(text: str, vocab_size: int) -> HFTokenizer:
    """A Llama-2-style tokenizer: BPE over ``▁``-joined words, bytes for the rest."""
    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    learner = Tokenizer(models.BPE())
    learner.pre_tokenizer = metaspace
    ascii_text = text.encode("ascii", errors="ignore").decode("ascii")
    trainer = tok_trainers.BpeTrainer(
        vocab_size=vocab_size - len(LLAMA_SPECIALS) - 256, show_progress=False
    )
    learner.train_from_iterator([ascii_text], trainer=trainer)
    learned = json.loads(learner.to_str())["model"]
    byte_tokens = [f"<0x{byte:02X}>" for byte in range(256)]
    vocab = {token: index for index, token in enumerate([*LLAMA_SPECIALS, *byte_tokens])}
    for token in sorted(learned["vocab"], key=learned["vocab"].__getitem__):
        vocab.setdefault(token, len(vocab))
    merges = [(a, b) for a, b in (merge.split(" ") for merge in learned["merges"])]
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True)
    )
    tokenizer.normalizer = normalizers.Sequence([])
    tokenizer.pre_tokenizer = metaspace
    tokenizer.decoder = decoders.Sequence(
        [decoders.Metaspace(replacement="▁", prepend_scheme="first"), decoders.ByteFallback()]
    )
    tokenizer.add_special_tokens(list(LLAMA_SPECIALS))
    return _wrap(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _model(
    arch: Arch, *, vocab: int, bos: int, eos: int, width: int, layers: int, context: int
) -> PreTrainedModel:
    if arch == "gpt2":
        return GPT2LMHeadModel(
            GPT2Config(
                vocab_size=vocab,
                n_positions=context,
                n_embd=width,
                n_layer=layers,
                n_head=2,
                bos_token_id=bos,
                eos_token_id=eos,
            )
        )
    if arch == "gpt_neox":
        return GPTNeoXForCausalLM(
            GPTNeoXConfig(
                vocab_size=vocab,
                hidden_size=width,
                num_hidden_layers=layers,
                num_attention_heads=2,
                intermediate_size=2 * width,
                max_position_embeddings=context,
                bos_token_id=bos,
                eos_token_id=eos,
            )
        )
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab,
            hidden_size=width,
            intermediate_size=2 * width,
            num_hidden_layers=layers,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=context,
            bos_token_id=bos,
            eos_token_id=eos,
        )
    )


def save_tiny_checkpoint(
    folder: str,
    arch: Arch,
    text: str,
    *,
    vocab_size: int = 320,
    width: int = 32,
    layers: int = 2,
    context: int = 128,
    seed: int = 0,
) -> str:
    """Write a tiny ``arch`` model (random weights, ``seed``) and a tokenizer of ``text``.

    The model has ``layers`` layers ``width`` wide, two attention heads and ``context``
    positions; the tokenizer ``vocab_size`` ids.

    Returns ``folder``, which then holds ``config.json``, ``model.safetensors`` and the
    tokenizer files, as ``save_pretrained`` writes them.
    """
    tokenizer = (
        _byte_fallback(text, vocab_size) if arch == "llama" else _byte_level(text, vocab_size)
    )
    bos, eos = (1, 2) if arch == "llama" else (0, 0)
    torch.manual_seed(seed)
    model = _model(
        arch,
        vocab=PretrainedTokenizer(tokenizer, folder).vocab_size,
        bos=bos,
        eos=eos,
        width=width,
        layers=layers,
        context=context,
    )
    Path(folder).mkdir(parents=True, exist_ok=True)
    quiet_progress()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

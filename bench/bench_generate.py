"""Sampling speed: our cached generation against HF's ``generate`` and against recomputing.

A small GPT-2 with a 512-token context writes 256 new tokens after a short prompt: with our
``generate`` (its key/value cache), with Hugging Face's ``generate`` on the very same model
(``do_sample=True`` and the same temperature and top-k), and with ``generate_naive``, which
runs the whole sequence through the model for each new token. The char-LSTM is measured
against its own naive loop. The models are untrained; their end-of-text logit is pushed far
down first, so every side writes all of its tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor

import common
import harness
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.backends.dispatch import generate
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.contracts.defaults import generate_config
from model_trainer.core.contracts.model import GenerateConfig, PreparedLMModel
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.inference.generate import fit_prompt, generate_naive

HF_TARGET = 1.0
NAIVE_TARGET = 2.5
CONTEXT = 512
NEW_TOKENS = 256
QUICK_CONTEXT = 64
QUICK_NEW_TOKENS = 16
PROMPT = slice(5000, 5060)
TEMPERATURE = 0.8
TOP_K = 50
# Added to one feature of the final norm; the end-of-text embedding points the other way.
EOS_PUSH = 50.0


def silence_gpt2_eos(model: GPT2LM, eos_id: int) -> None:
    """Make the end-of-text logit about ``-EOS_PUSH`` (the head is tied to the embedding)."""
    with torch.no_grad():
        model.hf.transformer.ln_f.bias[0] += EOS_PUSH
        row = model.hf.transformer.wte.weight[eos_id]
        row.zero_()
        row[0] = -1.0


def silence_lstm_eos(model: CharLSTM, eos_id: int) -> None:
    """Give the end-of-text token a head bias of ``-EOS_PUSH``."""
    with torch.no_grad():
        model.head.bias[eos_id] = -EOS_PUSH


def count_new(outcome_tokens: list[str], expected: int) -> int:
    """The number of new tokens, checked to be ``expected``."""
    if len(outcome_tokens) != expected:
        raise RuntimeError(f"wrote {len(outcome_tokens)} tokens, expected {expected}")
    return expected


def hf_generate(model: GPT2LM, ids: Tensor, *, new_tokens: int) -> int:
    """Sample with Hugging Face's ``generate``; returns how many new tokens it wrote."""
    out: Tensor = model.hf.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        do_sample=True,
        temperature=TEMPERATURE,
        top_k=TOP_K,
        top_p=1.0,
        pad_token_id=common.char_tokenizer().pad_id,
    )
    written = out.shape[1] - ids.shape[1]
    if written != new_tokens:
        raise RuntimeError(f"HF generate wrote {written} tokens, expected {new_tokens}")
    return written


def gpt2_figures(opts: harness.Options, cfg: GenerateConfig, new_tokens: int) -> None:
    shape = common.gpt2_shape(opts["quick"])
    context = QUICK_CONTEXT if opts["quick"] else CONTEXT
    prepared = common.prepared("gpt2", shape, max_seq_len=context)
    model = prepared["model"]
    if not isinstance(model, GPT2LM):
        raise TypeError(f"expected a GPT2LM, got {type(model).__name__}")
    silence_gpt2_eos(model, prepared["eos_id"])
    settings = common.settings()
    prompt = cfg["prompt_text"] or ""
    fitted = fit_prompt(
        prepared["eos_id"], prepared["tokenizer"].encode(prompt), context, new_tokens
    )
    ids = torch.tensor([fitted["ids"]])  # (1, P): the prompt exactly as ours feeds it

    def ours() -> float:
        return harness.rate(
            lambda: count_new(
                generate(prepared, cfg, settings)["sequences"][0]["tokens"], new_tokens
            )
        )

    def theirs() -> float:
        return harness.rate(lambda: hf_generate(model, ids, new_tokens=new_tokens))

    def naive() -> float:
        return harness.rate(
            lambda: count_new(
                generate_naive(model, prepared, cfg, settings, context_len=context)["sequences"][0][
                    "tokens"
                ],
                new_tokens,
            )
        )

    harness.maybe_profile(opts, "gpt2 ours", ours)
    harness.maybe_profile(opts, "gpt2 hf generate", theirs)
    name = f"generate_gpt2_{shape['size']}_ctx{context}_{new_tokens}_tokens"
    mine, base = harness.alternate(ours, theirs, rounds=opts["rounds"])
    harness.emit(
        harness.figure(f"{name}_vs_hf_generate", mine, base, unit="tokens/s", target=HF_TARGET)
    )
    mine, base = harness.alternate(ours, naive, rounds=opts["rounds"])
    harness.emit(
        harness.figure(f"{name}_vs_recompute", mine, base, unit="tokens/s", target=NAIVE_TARGET)
    )


def lstm_figure(opts: harness.Options, cfg: GenerateConfig, new_tokens: int) -> None:
    shape = common.lstm_shape(opts["quick"])
    prepared: PreparedLMModel = common.prepared("char_lstm", shape)
    model = prepared["model"]
    if not isinstance(model, CharLSTM):
        raise TypeError(f"expected a CharLSTM, got {type(model).__name__}")
    silence_lstm_eos(model, prepared["eos_id"])
    settings = common.settings()

    def ours() -> float:
        return harness.rate(
            lambda: count_new(
                generate(prepared, cfg, settings)["sequences"][0]["tokens"], new_tokens
            )
        )

    def naive() -> float:
        return harness.rate(
            lambda: count_new(
                generate_naive(model, prepared, cfg, settings, context_len=None)["sequences"][0][
                    "tokens"
                ],
                new_tokens,
            )
        )

    harness.maybe_profile(opts, "char_lstm ours", ours)
    harness.maybe_profile(opts, "char_lstm naive", naive)
    mine, base = harness.alternate(ours, naive, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"generate_char_lstm_{shape['size']}_{new_tokens}_tokens_vs_recompute",
            mine,
            base,
            unit="tokens/s",
            target=NAIVE_TARGET,
        )
    )


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    new_tokens = QUICK_NEW_TOKENS if opts["quick"] else NEW_TOKENS
    cfg = generate_config(
        prompt_text=builtin_text()[PROMPT],
        max_new_tokens=new_tokens,
        temperature=TEMPERATURE,
        top_k=TOP_K,
        seed=0,
    )
    gpt2_figures(opts, cfg, new_tokens)
    lstm_figure(opts, cfg, new_tokens)


if __name__ == "__main__":
    main()

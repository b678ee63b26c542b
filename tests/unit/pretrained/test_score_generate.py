"""Loaded pretrained models score exactly what a direct Hugging Face forward gives, per char."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import model_trainer as mt
from model_trainer.core.backends.hf_causal_lm.tiny import ARCHS, Arch
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import generate_config
from model_trainer.core.inference.generate import generate_naive

LN2 = math.log(2.0)
MIXED = "Naïve café: 😀 👩‍👩‍👧 日本語のテキスト, e\u0301 and a\u0308!\tTabs\n new line"


def _hf_nll(folder: str, text: str, start: int) -> list[float]:
    """Nats of each token of ``text`` after ``start``, from a plain HF forward pass."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = torch.tensor([[start, *tokenizer(text, add_special_tokens=False)["input_ids"]]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)  # (T, V)
    return (-logp.gather(1, ids[0, 1:, None])[:, 0]).tolist()


@pytest.mark.parametrize("arch", ARCHS)
def test_per_token_log_probs_equal_a_direct_forward(
    checkpoints: dict[Arch, str], arch: Arch
) -> None:
    prepared = mt.load_model(checkpoints[arch], device="cpu")
    start = {"gpt2": 0, "gpt_neox": 0, "llama": 1}[arch]  # the model's BOS
    assert prepared["start_id"] == start
    expected = _hf_nll(checkpoints[arch], MIXED, start)
    outcome = mt.score(prepared, text=MIXED, detail_level="per_char", attribution="even_spread")
    chars = list(outcome["per_char"])
    assert "".join(c["char"] for c in chars) == MIXED
    assert outcome["num_tokens"] == len(expected)
    assert outcome["loss"] == pytest.approx(sum(expected) / len(expected), abs=1e-6)
    # A token covering no character is charged to the next token that covers some.
    got = [0.0] * len(expected)
    for char in chars:
        got[char["token_index"]] += char["surprisal_bits"] * LN2
    owed = 0.0
    for index, nats in enumerate(expected):
        owed += nats
        if got[index]:
            assert got[index] == pytest.approx(owed, abs=1e-5)
            owed = 0.0
    assert owed == 0.0
    assert sum(c["surprisal_bits"] for c in chars) == pytest.approx(
        outcome["bits_per_char"] * len(MIXED), rel=1e-9
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_each_character_goes_to_the_token_holding_its_last_piece(
    checkpoints: dict[Arch, str], arch: Arch
) -> None:
    tokenizer = mt.load_model(checkpoints[arch], device="cpu")["tokenizer"]
    spans = tokenizer.encode_offsets(MIXED)
    assert [token for token, _, _ in spans] == tokenizer.encode(MIXED)
    assert [start for _, start, _ in spans] == [0, *(end for _, _, end in spans[:-1])]
    assert spans[-1][2] == len(MIXED)
    for token, start, end in spans:
        piece = tokenizer.id_to_text(token)
        if end > start and "\ufffd" not in piece:
            assert piece == MIXED[start:end]
    emoji = MIXED.index("😀")
    owners = [index for index, (_, start, end) in enumerate(spans) if start <= emoji < end]
    assert len(owners) == 1
    assert tokenizer.decode(tokenizer.encode(MIXED)).endswith(MIXED[1:])


def test_texts_longer_than_the_context_are_scored_in_windows(
    checkpoints: dict[Arch, str],
) -> None:
    prepared = mt.load_model(checkpoints["gpt2"], device="cpu", max_seq_len=16)
    text = MIXED * 4
    even = mt.score(prepared, text=text, detail_level="per_char", attribution="even_spread")
    assert even["num_tokens"] > 16
    assert sum(c["surprisal_bits"] for c in even["per_char"]) == pytest.approx(
        even["bits_per_char"] * len(text), rel=1e-9
    )
    # Character probabilities across windows: each the ratio of two prefix probabilities.
    outcome = mt.score(prepared, text=text, detail_level="per_char")
    bits = [c["surprisal_bits"] for c in outcome["per_char"]]
    assert all(math.isfinite(b) and b >= 0 for b in bits)
    assert math.fsum(bits) == pytest.approx(outcome["char_bits"], rel=1e-9)
    assert (
        outcome["char_bits"] <= outcome["canonical_bits"] == pytest.approx(even["canonical_bits"])
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_seeded_generation_repeats_and_the_cache_matches_recomputing(
    checkpoints: dict[Arch, str], arch: Arch, settings: Settings
) -> None:
    prepared = mt.load_model(checkpoints[arch], device="cpu")
    streamed: list[tuple[int, str, float]] = []
    first = mt.generate(prepared, prompt_text="The file", max_new_tokens=12, seed=3)
    again = mt.generate(prepared, prompt_text="The file", max_new_tokens=12, seed=3)
    assert first == again
    cfg = generate_config(
        prompt_text="The file", max_new_tokens=12, top_k=1, num_return_sequences=2
    )
    cached = mt.generate(
        prepared, prompt_text="The file", max_new_tokens=12, top_k=1, num_return_sequences=2
    )
    naive = generate_naive(
        prepared["model"],
        prepared,
        cfg,
        settings,
        context_len=prepared["max_seq_len"],
        on_token=lambda index, text, prob: streamed.append((index, text, prob)),
    )
    assert cached["sequences"] == [
        {**seq, "token_probs": pytest.approx(seq["token_probs"], abs=1e-5)}
        for seq in naive["sequences"]
    ]
    assert len(streamed) == sum(len(seq["tokens"]) for seq in naive["sequences"])

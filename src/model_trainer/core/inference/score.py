"""Score a text: loss, perplexity, bits per character, and per-character surprisal.

What the first token is predicted from: the eos id is prepended as a start-of-text token,
so every token of the text, the first included, is predicted and scored.

A text longer than the context of a forward-only model is scored whole with the sliding
windows of ``windows.py``; a stateful model (``StepModel``) is fed the text in chunks,
its state carried from one chunk to the next, so chunking changes nothing but memory.

Characters outside a char vocabulary are encoded as ``tokenizer.unk_id``; the model's
surprisal of that id counts like another token's, and ``num_unknown_chars`` says how many
characters it stood for.

Scoring puts the model in eval mode and draws nothing at random: ``ScoreConfig.seed`` has
nothing to seed, and the same text gives the same figures.
"""

from __future__ import annotations

import math
from typing import TypedDict, TypeVar

import torch
from torch import Tensor

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    CharScore,
    LMModelProto,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
)
from model_trainer.core.contracts.stateful import StepModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.contracts.validators import validate_score_config
from model_trainer.core.inference.inputs import check_top_k, score_text
from model_trainer.core.inference.surprisal import (
    TokenScores,
    concat_scores,
    spread_over_chars,
    token_scores,
)
from model_trainer.core.inference.windows import plan_windows, windows_per_batch
from model_trainer.core.training.loss import perplexity

StateT = TypeVar("StateT")
CHUNK_TOKENS = 512  # the fastest of 128 to 16384 on a CPU thread (all within 20%)
LN2 = math.log(2.0)


def windowed_scores(
    model: LMModelProto, ids: Tensor, *, context: int, top_k: int | None, per_batch: int
) -> TokenScores:
    """Score ``ids[1:]`` given ``ids`` (N + 1,) with sliding windows of ``context`` positions."""
    inputs = ids[:-1]  # (N,)
    targets = ids[1:]  # (N,)
    windows = plan_windows(inputs.shape[0], context)
    parts: list[TokenScores] = []
    with torch.inference_mode():
        for first in range(0, len(windows), per_batch):
            group = windows[first : first + per_batch]
            batch = torch.stack([inputs[w["start"] : w["end"]] for w in group])  # (B, C)
            logits = model(batch)  # (B, C, V)
            scored = torch.cat(
                [logits[j, w["first_scored"] - w["start"] :] for j, w in enumerate(group)]
            )  # (T, V)
            wanted = torch.cat([targets[w["first_scored"] : w["end"]] for w in group])  # (T,)
            parts.append(token_scores(scored, wanted, top_k))
    return concat_scores(parts)


def stateful_scores(
    model: StepModel[StateT], ids: Tensor, *, chunk_len: int, top_k: int | None
) -> TokenScores:
    """Score ``ids[1:]`` given ``ids`` (N + 1,), ``chunk_len`` tokens a step, state carried."""
    inputs = ids[:-1]  # (N,)
    targets = ids[1:]  # (N,)
    parts: list[TokenScores] = []
    state: StateT | None = None
    with torch.inference_mode():
        for first in range(0, inputs.shape[0], chunk_len):
            chunk = inputs[None, first : first + chunk_len]  # (1, t)
            logits, state = model.step(chunk, state)  # (1, t, V)
            parts.append(token_scores(logits[0], targets[first : first + chunk_len], top_k))
    return concat_scores(parts)


class _Encoded(TypedDict):
    text: str
    spans: list[tuple[int, int]]
    token_ids: list[int]
    ids: Tensor  # (N + 1,) the start token, then the text's tokens
    top_k: int | None


def _encode(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> _Encoded:
    validate_score_config(cfg)
    tokenizer = prepared["tokenizer"]
    check_top_k(cfg["top_k"], tokenizer.vocab_size)
    text = score_text(cfg, settings)
    offsets = tokenizer.encode_offsets(text)
    token_ids = [token_id for token_id, _, _ in offsets]
    prepared["model"].eval()
    return {
        "text": text,
        "spans": [(start, end) for _, start, end in offsets],
        "token_ids": token_ids,
        "ids": torch.tensor([prepared["eos_id"], *token_ids], device=prepared["device"]),
        "top_k": cfg["top_k"] if cfg["detail_level"] == "per_char" else None,
    }


def _per_char(
    encoded: _Encoded, scores: TokenScores, bits: list[float], tokenizer: TokenizerHandle
) -> list[CharScore]:
    char_bits, char_tokens = spread_over_chars(bits, encoded["spans"], len(encoded["text"]))
    ranks: list[int] = scores["rank"].tolist()
    top_ids: list[list[int]] = scores["top_ids"].tolist()
    top_probs: list[list[float]] = scores["top_probs"].tolist()
    unique: list[int] = torch.unique(scores["top_ids"]).tolist()
    names = {token_id: tokenizer.id_to_text(token_id) for token_id in unique}
    out: list[CharScore] = []
    for pos, (char, value, token) in enumerate(
        zip(encoded["text"], char_bits, char_tokens, strict=True)
    ):
        item: CharScore = {
            "char": char,
            "surprisal_bits": value,
            "token_index": token,
            "rank": ranks[token],
        }
        if encoded["top_k"] is not None and pos == encoded["spans"][token][0]:
            item["top_k"] = [
                {"text": names[token_id], "prob": prob}
                for token_id, prob in zip(top_ids[token], top_probs[token], strict=True)
            ]
        out.append(item)
    return out


def _outcome(
    encoded: _Encoded, scores: TokenScores, tokenizer: TokenizerHandle, per_char: bool
) -> ScoreOutcome:
    nll: list[float] = scores["nll"].tolist()
    total = math.fsum(nll)
    num_tokens = len(nll)
    num_chars = len(encoded["text"])
    unk = tokenizer.unk_id
    unknown = sum(
        end - start
        for token_id, (start, end) in zip(encoded["token_ids"], encoded["spans"], strict=True)
        if token_id == unk
    )
    loss = total / num_tokens
    out: ScoreOutcome = {
        "loss": loss,
        "perplexity": perplexity(loss),
        "bits_per_char": total / LN2 / num_chars,
        "num_tokens": num_tokens,
        "num_chars": num_chars,
        "num_unknown_chars": unknown,
    }
    if per_char:
        out["per_char"] = _per_char(encoded, scores, [v / LN2 for v in nll], tokenizer)
    return out


def score_windowed(
    model: LMModelProto,
    prepared: PreparedLMModel,
    cfg: ScoreConfig,
    settings: Settings,
    *,
    per_batch: int | None = None,
) -> ScoreOutcome:
    """Score with a forward-only model of context ``prepared["max_seq_len"]``, windowed.

    ``per_batch`` windows go through one forward pass (default: ``windows_per_batch``).
    """
    encoded = _encode(prepared, cfg, settings)
    tokenizer = prepared["tokenizer"]
    context = prepared["max_seq_len"]
    if per_batch is None:
        accelerator = not prepared["device"].startswith("cpu")
        per_batch = windows_per_batch(context, tokenizer.vocab_size, accelerator=accelerator)
    scores = windowed_scores(
        model,
        encoded["ids"],
        context=context,
        top_k=encoded["top_k"],
        per_batch=per_batch,
    )
    return _outcome(encoded, scores, tokenizer, cfg["detail_level"] == "per_char")


def score_stateful(
    model: StepModel[StateT],
    prepared: PreparedLMModel,
    cfg: ScoreConfig,
    settings: Settings,
    *,
    chunk_len: int = CHUNK_TOKENS,
) -> ScoreOutcome:
    """Score with a stateful model, ``chunk_len`` tokens a step, its state carried over."""
    encoded = _encode(prepared, cfg, settings)
    scores = stateful_scores(model, encoded["ids"], chunk_len=chunk_len, top_k=encoded["top_k"])
    return _outcome(encoded, scores, prepared["tokenizer"], cfg["detail_level"] == "per_char")

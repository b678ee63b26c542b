"""Per-token figures from logits, and their spread over the characters each token covers."""

from __future__ import annotations

from typing import TypedDict

import torch
from torch import Tensor

from model_trainer.core.errors import ModelTrainerError


class TokenScores(TypedDict):
    """Figures of ``T`` predicted tokens; the top-k tensors have ``k = 0`` columns without k."""

    nll: Tensor  # (T,) nats, float32
    rank: Tensor  # (T,) 1 = the argmax, int64
    top_ids: Tensor  # (T, k)
    top_probs: Tensor  # (T, k)


def token_scores(logits: Tensor, targets: Tensor, top_k: int | None) -> TokenScores:
    """Score ``targets`` (T,) under ``logits`` (T, V).

    The rank counts the tokens with a higher logit, and those with an equal logit and a lower
    id (the tie order of ``argmax``), plus one: rank 1 is exactly the argmax.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # (T, V)
    true_logp = logp.gather(1, targets[:, None])  # (T, 1)
    ids = torch.arange(logp.shape[1], device=logp.device)  # (V,)
    ahead = (logp > true_logp) | ((logp == true_logp) & (ids[None, :] < targets[:, None]))
    rank = ahead.sum(dim=1) + 1  # (T,)
    k = 0 if top_k is None else top_k
    top_logp, top_ids = torch.topk(logp, k, dim=-1)  # (T, k)
    return {
        "nll": -true_logp[:, 0],
        "rank": rank,
        "top_ids": top_ids,
        "top_probs": top_logp.exp(),
    }


def concat_scores(parts: list[TokenScores]) -> TokenScores:
    """Join scores of consecutive stretches of tokens (``parts`` is not empty)."""
    return {
        "nll": torch.cat([p["nll"] for p in parts]),
        "rank": torch.cat([p["rank"] for p in parts]),
        "top_ids": torch.cat([p["top_ids"] for p in parts]),
        "top_probs": torch.cat([p["top_probs"] for p in parts]),
    }


def check_tiling(spans: list[tuple[int, int]], num_chars: int) -> None:
    """Raise MODEL_INCOMPATIBLE unless ``spans`` cover ``[0, num_chars)`` in order, no gap."""
    pos = 0
    for index, (start, end) in enumerate(spans):
        if start != pos or end < start:
            raise ModelTrainerError(
                "MODEL_INCOMPATIBLE",
                f"tokenizer span {index} is ({start}, {end}), expected it to start at {pos}: "
                "the spans of encode_offsets must tile the text",
            )
        pos = end
    if pos != num_chars:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"tokenizer spans end at character {pos} of a text of {num_chars} characters: "
            "the spans of encode_offsets must tile the text",
        )


def charge_empty_spans(values: list[float], spans: list[tuple[int, int]]) -> list[float]:
    """Move the value of each token with an empty span onto a token that covers characters.

    It goes to the next token with characters or, after the last one, to the previous. The
    total is unchanged. ``spans`` tile a non-empty text, so some span is non-empty.
    """
    out = [0.0] * len(values)
    carry = 0.0
    last = -1
    for index, ((start, end), value) in enumerate(zip(spans, values, strict=True)):
        if end == start:
            carry += value
        else:
            out[index] = value + carry
            carry = 0.0
            last = index
    out[last] += carry
    return out


def spread_over_chars(
    values: list[float], spans: list[tuple[int, int]], num_chars: int
) -> tuple[list[float], list[int]]:
    """Spread each token's value evenly over its characters.

    Returns the value of each character and the index of the token covering it; the values
    of the characters sum to the values of the tokens.
    """
    check_tiling(spans, num_chars)
    charged = charge_empty_spans(values, spans)
    char_values: list[float] = []
    char_tokens: list[int] = []
    for index, (start, end) in enumerate(spans):
        width = end - start
        if width == 0:
            continue
        char_values.extend([charged[index] / width] * width)
        char_tokens.extend([index] * width)
    return char_values, char_tokens

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


def log_normalizer(logits: Tensor) -> Tensor:
    """``log sum exp`` of each row of ``logits`` (T, V), in float32: (T, 1)."""
    return torch.logsumexp(logits.float(), dim=-1, keepdim=True)


def token_scores(
    logits: Tensor, targets: Tensor, top_k: int | None, *, log_norm: Tensor | None = None
) -> TokenScores:
    """Score ``targets`` (T,) under ``logits`` (T, V).

    The rank counts the tokens with a higher logit, and those with an equal logit and a lower
    id (the tie order of ``argmax``), plus one: rank 1 is exactly the argmax. Ranks come from
    the logits themselves, and the log-probabilities of the whole vocabulary are never made:
    a few passes over ``(T, V)`` a batch. ``log_norm`` (T, 1) is the rows'
    ``log_normalizer`` when the caller has it already.
    """
    scores = logits.float()  # (T, V)
    true = scores.gather(1, targets[:, None])  # (T, 1)
    total = log_normalizer(scores) if log_norm is None else log_norm  # (T, 1)
    rank = (scores > true).sum(dim=1) + 1  # (T,)
    equal = scores == true  # (T, V)
    tied = (equal.sum(dim=1) > 1).nonzero()[:, 0]  # rows where another token ties the target
    if tied.numel():
        ids = torch.arange(scores.shape[1], device=scores.device)  # (V,)
        rank[tied] += (equal[tied] & (ids[None, :] < targets[tied, None])).sum(dim=1)
    k = 0 if top_k is None else top_k
    top_scores, top_ids = torch.topk(scores, k, dim=-1)  # (T, k)
    return {
        "nll": (total - true)[:, 0],
        "rank": rank,
        "top_ids": top_ids,
        "top_probs": (top_scores - total).exp(),
    }


def empty_scores(count: int, top_k: int | None) -> TokenScores:
    """Room for the scores of ``count`` tokens, filled stretch by stretch with ``put_scores``.

    Ranks and ids are kept as 32-bit integers: the scores of a long text stay small.
    """
    k = 0 if top_k is None else top_k
    return {
        "nll": torch.zeros(count),
        "rank": torch.zeros(count, dtype=torch.int32),
        "top_ids": torch.zeros(count, k, dtype=torch.int32),
        "top_probs": torch.zeros(count, k),
    }


def put_scores(into: TokenScores, first: int, part: TokenScores) -> None:
    """Copy ``part``, the scores of tokens ``first ..``, into ``into`` (on its device)."""
    last = first + part["nll"].shape[0]
    for key in ("nll", "rank", "top_ids", "top_probs"):
        into[key][first:last] = part[key].to(into[key].device)


def check_tiling(starts: Tensor, ends: Tensor, num_chars: int) -> None:
    """Raise MODEL_INCOMPATIBLE unless spans ``[starts, ends)`` cover ``[0, num_chars)`` in order.

    ``starts`` and ``ends`` are ``(T,)`` integer tensors; there must be no gap and no overlap.
    """
    expected = torch.cat([torch.zeros(1, dtype=ends.dtype), ends[:-1]])  # (T,)
    bad = ((starts != expected) | (ends < starts)).nonzero()
    if bad.numel():
        index = int(bad[0, 0])
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"tokenizer span {index} is ({int(starts[index])}, {int(ends[index])}), expected "
            f"it to start at {int(expected[index])}: the spans of encode_offsets must tile "
            "the text",
        )
    pos = int(ends[-1]) if ends.numel() else 0
    if pos != num_chars:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"tokenizer spans end at character {pos} of a text of {num_chars} characters: "
            "the spans of encode_offsets must tile the text",
        )


def charge_empty_spans(values: Tensor, widths: Tensor) -> Tensor:
    """Move the value of each token with an empty span onto a token that covers characters.

    It goes to the next token with characters or, after the last one, to the previous. The
    total is unchanged. Some width is positive (the spans tile a non-empty text).
    """
    if bool((widths > 0).all()):  # no empty span: nothing moves (and no index arrays)
        return values
    covering = (widths > 0).nonzero()[:, 0]  # (C,) tokens that cover characters
    positions = torch.arange(values.shape[0])  # (T,)
    target = torch.searchsorted(covering, positions).clamp(max=covering.shape[0] - 1)  # (T,)
    return torch.zeros_like(values).index_add_(0, covering[target], values)


def char_tokens(starts: Tensor, ends: Tensor, num_chars: int) -> Tensor:
    """The index of the token covering each character, ``(N,)`` int32.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` unless the spans tile the text
            (``check_tiling``).
    """
    check_tiling(starts, ends, num_chars)
    return torch.arange(starts.shape[0], dtype=torch.int32).repeat_interleave(ends - starts)


def spread_over_chars(
    values: Tensor, starts: Tensor, ends: Tensor, num_chars: int
) -> tuple[Tensor, Tensor]:
    """Spread each token's value (``(T,)``) evenly over the characters it covers.

    Returns the value of each character ``(N,)`` and ``char_tokens`` ``(N,)``; the values of
    the characters sum to the values of the tokens.
    """
    tokens = char_tokens(starts, ends, num_chars)
    widths = ends - starts  # (T,)
    charged = charge_empty_spans(values, widths)
    if bool((widths == 1).all()):  # one character a token: the values are the characters'
        return charged, tokens
    return (charged / widths.clamp(min=1)).repeat_interleave(widths), tokens

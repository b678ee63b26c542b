"""Choose the next token: temperature, top-k, nucleus (top-p), with a local generator.

The filters run in this order: the banned ids (padding, the unknown id) are dropped, the
logits are divided by the temperature, all but the ``top_k`` largest are dropped, then all
but the smallest set of the most likely tokens whose probability reaches ``top_p`` (the most
likely token always stays). The probability reported for a sampled token is the model's own
softmax probability at temperature 1, before any filter: it says how likely the model found
the token, whatever the sampling settings.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def make_generator(seed: int | None, device: str) -> torch.Generator:
    """A generator on ``device``: seeded with ``seed``, or from the OS when it is None."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def filter_logits(
    logits: Tensor,
    *,
    temperature: float,
    top_k: int,
    top_p: float,
    banned: Sequence[int] = (),
) -> Tensor:
    """Scaled logits (B, V) with ``-inf`` at every token the filters drop.

    The ``banned`` ids go first (never sampled), then ``top_k`` (the vocabulary's size or
    more keeps every token), then ``top_p``.
    """
    scaled = logits.float() / temperature  # (B, V)
    if banned:
        never = torch.tensor(list(banned), device=scaled.device)
        scaled = scaled.index_fill(1, never, float("-inf"))
    k = min(top_k, scaled.shape[-1])
    kept_values, kept_ids = torch.topk(scaled, k, dim=-1)  # (B, k), sorted descending
    probs = torch.softmax(kept_values, dim=-1)  # (B, k)
    before = torch.cumsum(probs, dim=-1) - probs  # (B, k) mass of the more likely tokens
    kept_values = kept_values.masked_fill(before >= top_p, float("-inf"))  # first: before = 0
    out = torch.full_like(scaled, float("-inf"))
    return out.scatter(1, kept_ids, kept_values)  # (B, V)


def sample_next(
    logits: Tensor,
    generator: torch.Generator,
    *,
    temperature: float,
    top_k: int,
    top_p: float,
    banned: Sequence[int] = (),
) -> tuple[Tensor, Tensor]:
    """Sample one token per row of ``logits`` (B, V), never one of ``banned``.

    Returns the ids (B,) and their probabilities (B,) under the model at temperature 1.
    """
    filtered = filter_logits(
        logits, temperature=temperature, top_k=top_k, top_p=top_p, banned=banned
    )
    choice = torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator)  # (B, 1)
    probs = torch.softmax(logits.float(), dim=-1).gather(1, choice)  # (B, 1)
    return choice[:, 0], probs[:, 0]

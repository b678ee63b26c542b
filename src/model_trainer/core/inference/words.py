"""Word surprisal from character probabilities, with the end of each word counted.

A word ``w`` read after the text ``c`` before it has the surprisal
``-log2 P(w | c) - log2 P(the word ends | c + w)``: the sum of its characters' surprisals,
plus the surprisal of its ending where it ends, ``1 - P(a next character continues it)``
(after the last word, from what the model writes after the text). Whatever is not a
character continuing the word ends it: a space, a punctuation mark, a line break, the end of
the text, and, within a token at beam 1, the mass of the tokens that end right there, whose
next character is not read. Summing subword surprisals instead charges a word the leading
space of the word after it, and never asks whether it ended (Pimentel & Meister 2024, "How to
Compute the Probability of a Word"). White space belongs to no word.

Words are the matches of a pattern (``ScoreConfig.word_pattern``), by default runs of
letters, digits and apostrophes, and each punctuation mark on its own. A character continues
a word when the word and the character still match the pattern whole.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from model_trainer.core.contracts.model import WordScore


def word_spans(text: str, pattern: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of ``text``: the non-empty matches of ``pattern``."""
    return [
        (match.start(), match.end())
        for match in re.compile(pattern).finditer(text)
        if match.end() > match.start()
    ]


def word_scores(
    text: str,
    spans: list[tuple[int, int]],
    char_bits: Tensor,
    next_chars: dict[int, dict[str, float]],
    pattern: str,
) -> list[WordScore]:
    """The words ``spans`` of ``text`` scored from ``char_bits`` (N,) and ``next_chars``.

    ``next_chars[end]`` holds the probability of each character the model may write after
    ``text[:end]``, for the end of every word.
    """
    words = re.compile(pattern)
    totals = torch.cat([torch.zeros(1, dtype=torch.float64), char_bits.double().cumsum(0)])
    out: list[WordScore] = []
    for start, end in spans:
        word = text[start:end]
        goes_on = sum(
            prob for char, prob in next_chars[end].items() if words.fullmatch(word + char)
        )
        end_bits = (
            float(-torch.tensor(1.0 - goes_on, dtype=torch.float64).clamp(min=0).log2()) + 0.0
        )
        out.append(
            {
                "word": word,
                "start": start,
                "end": end,
                "surprisal_bits": float(totals[end] - totals[start]) + end_bits,
                "end_bits": end_bits,
            }
        )
    return out

"""Character probabilities for one scored text, planned before its forward pass.

The plan is fed the text's logits as scoring makes them, and read into per-character
arrays at the end.

A character tokenizer's tokens are its characters, so its per-character figures are the
tokens' own (exact by construction); a plan runs for it only for words, whose ends need the
whole next-character distribution. ``attribution="even_spread"`` keeps the tokens'
surprisal shared evenly by their characters.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model_trainer.core.contracts.model import ScoreConfig
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.inference.char_probs import (
    ByteLayout,
    CanonicalMasses,
    CharResult,
    RunPath,
    beam_log_prefix,
    byte_layout,
    char_result,
)
from model_trainer.core.inference.vocab_text import VocabText, vocab_text
from model_trainer.core.inference.words import word_spans


def wants_char_probs(cfg: ScoreConfig, tokenizer: TokenizerHandle) -> bool:
    """Whether ``cfg`` asks for character probabilities: a token model's, or any words'."""
    return cfg["detail_level"] == "per_word" or (
        cfg["detail_level"] == "per_char"
        and cfg["attribution"] == "char_probability"
        and tokenizer.kind != "char"
    )


class CharPlan:
    """The character probabilities of ``text``, tokenized as ``ids`` (start id first)."""

    def __init__(
        self,
        text: str,
        ids: Tensor,
        spans: tuple[Tensor, Tensor],
        tokenizer: TokenizerHandle,
        cfg: ScoreConfig,
    ) -> None:
        """Lay the tokens over the text's bytes and plan the masses to read.

        Raises:
            ModelTrainerError: ``MODEL_INCOMPATIBLE`` for a tokenizer whose tokens' bytes
                are unknown or that changes the text (``vocab_text``, ``byte_layout``).
        """
        self._text = text
        self._vocab: VocabText = vocab_text(tokenizer)
        self._path: list[int] = ids[1:].tolist()
        self._start: int = int(ids[0])
        self._device = ids.device
        self._beam = cfg["beam"]
        self._tokens_are_chars = tokenizer.kind == "char"
        self.layout: ByteLayout = byte_layout(
            text, self._path, spans[0].tolist(), spans[1].tolist(), self._vocab
        )
        self.pattern = cfg["word_pattern"]
        self.words: list[tuple[int, int]] = []
        if cfg["detail_level"] == "per_word":
            self.words = word_spans(text, cfg["word_pattern"])
        self.after = cfg["detail_level"] == "per_word"
        self.masses = CanonicalMasses(
            self.layout, self._vocab, cfg["top_k"], frozenset(end for _, end in self.words)
        )

    def rows(self, first: int, logits: Tensor) -> None:
        """Take canonical logits rows ``(n, V)`` from position ``first`` (a ``RowsHook``)."""
        self.masses.rows(first, logits)

    def path_ids(self, path: list[int]) -> Tensor:
        """``path`` after the start id, as the ids a scorer reads, on the model's device."""
        return torch.tensor([self._start, *path], device=self._device)

    def result(self, nll: Tensor, run: RunPath) -> CharResult:
        """The figures, given the canonical tokens' ``nll`` (T,) nats; ``run`` runs a path."""
        log_prefix = None
        if self._tokens_are_chars:  # its tokens' own figures: exact by construction
            log_prefix = torch.cat([torch.zeros(1, dtype=torch.float64), -nll.double().cumsum(0)])
        elif self._beam > 1:
            log_prefix = beam_log_prefix(self.layout, self._vocab, self._path, self._beam, run)
        return char_result(self._text, self.layout, self.masses, -nll.double(), log_prefix)

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
from model_trainer.core.inference.char_beam import BeamPaths, beam_log_prefix
from model_trainer.core.inference.char_masses import CanonicalMasses, CharResult, char_result
from model_trainer.core.inference.char_probs import (
    ROW_CHUNK,
    ByteLayout,
    RunPath,
    SortedRows,
    byte_layout,
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
        self._ids = ids
        self._beam = cfg["beam"]
        self._tokens_are_chars = tokenizer.kind == "char"
        self.layout: ByteLayout = byte_layout(text, ids[1:], spans[0], spans[1], self._vocab)
        self.pattern = cfg["word_pattern"]
        self.words: list[tuple[int, int]] = []
        if cfg["detail_level"] == "per_word":
            self.words = word_spans(text, cfg["word_pattern"])
        self.after = cfg["detail_level"] == "per_word"
        word_ends = torch.tensor(sorted({end for _, end in self.words}), dtype=torch.long)
        self.masses = CanonicalMasses(text, self.layout, self._vocab, cfg["top_k"], word_ends)
        self._reader = SortedRows(self._vocab["order"])
        self._paths: BeamPaths | None = None
        if self._beam > 1 and not self._tokens_are_chars:
            self._paths = BeamPaths(self.layout, self._vocab)
            starts = [0, *self.layout["token_end"].tolist()]
            self._paths.follow(ids[1:].tolist(), starts)

    def rows(self, first: int, logits: Tensor) -> Tensor:
        """Take canonical logits rows ``(n, V)`` from position ``first`` (a ``RowsHook``).

        Returns their log-normaliser (n, 1), read on the way, for the tokens' own scores.
        """
        norms: list[Tensor] = []
        for at in range(0, logits.shape[0], ROW_CHUNK):
            part = logits[at : at + ROW_CHUNK]
            norm, masses = self._reader.read(part)
            self.masses.take(first + at, masses)
            if self._paths is not None:
                self._paths.take(first + at, part, masses)
            norms.append(norm)
        return torch.cat(norms)

    def path_ids(self, path: list[int]) -> Tensor:
        """``path`` after the start id, as the ids a scorer reads, on the model's device."""
        return torch.tensor([int(self._ids[0]), *path], device=self._ids.device)

    def result(self, nll: Tensor, run: RunPath) -> CharResult:
        """The figures, given the canonical tokens' ``nll`` (T,) nats; ``run`` runs a path."""
        log_prefix = None
        if self._tokens_are_chars:  # its tokens' own figures: exact by construction
            log_prefix = torch.cat([torch.zeros(1, dtype=torch.float64), -nll.double().cumsum(0)])
        elif self._paths is not None:
            log_prefix = beam_log_prefix(self._paths, self._beam, run)
        return char_result(self._text, self.layout, self.masses, -nll.double(), log_prefix)

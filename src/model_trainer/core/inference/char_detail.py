"""Character probabilities for one scored text, planned before its forward pass.

The plan is fed the text's logits as scoring makes them, and read into per-character
arrays at the end.

A character tokenizer's tokens are its characters, so its figures are the tokens' own
(exact by construction) and nothing here runs for it; ``attribution="even_spread"``
keeps the tokens' surprisal shared evenly by their characters.
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


def wants_char_probs(cfg: ScoreConfig, tokenizer: TokenizerHandle) -> bool:
    """Whether ``cfg`` asks for character probabilities a token model must compute."""
    return (
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
        self.layout: ByteLayout = byte_layout(
            text, self._path, spans[0].tolist(), spans[1].tolist(), self._vocab
        )
        self.masses = CanonicalMasses(self.layout, self._vocab, cfg["top_k"])

    def rows(self, first: int, logits: Tensor) -> None:
        """Take canonical logits rows ``(n, V)`` from position ``first`` (a ``RowsHook``)."""
        self.masses.rows(first, logits)

    def path_ids(self, path: list[int]) -> Tensor:
        """``path`` after the start id, as the ids a scorer reads, on the model's device."""
        return torch.tensor([self._start, *path], device=self._device)

    def result(self, nll: Tensor, run: RunPath) -> CharResult:
        """The figures, given the canonical tokens' ``nll`` (T,) nats; ``run`` runs a path."""
        log_prefix = (
            beam_log_prefix(self.layout, self._vocab, self._path, self._beam, run)
            if self._beam > 1
            else None
        )
        return char_result(self._text, self.layout, self.masses, -nll.double(), log_prefix)

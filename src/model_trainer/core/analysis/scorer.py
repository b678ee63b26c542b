"""One window of documents scored by one model: batched forward passes, then each document.

A document whose ids fit the model's context (a stateful model: the batch budget) goes into
a right-padded batch with documents of about its length, one forward pass a batch through the
family's ``batch_forward``. For the documents table alone, each row's canonical surprisal is
read from the batch's logits at once (the same sum ``score`` makes); for words or characters
each document's outcome is ``score_rows`` of its own rows, ``score``'s figures. A longer
document, or any document of a family without a batched forward, is scored alone by the
family's ``score`` (windowed, as ``score`` does). An empty document is not read by the model:
no tokens, no bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypedDict

import torch
from torch import Tensor

from model_trainer.core.analysis.batches import pack
from model_trainer.core.analysis.records import Record
from model_trainer.core.analysis.tables import Scored
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.corpus import SCORE_WORDS, CorpusScoreConfig, TableName
from model_trainer.core.contracts.model import (
    BatchForward,
    DetailLevel,
    ModelBackend,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
)
from model_trainer.core.inference.batched import padded
from model_trainer.core.inference.score import EncodedText, encode_text, score_rows
from model_trainer.core.training.device import autocast, resolve_precision

LN2 = math.log(2.0)


class ModelUse(TypedDict):
    """A model of a scoring: its name in the tables, the model, and its family's backend."""

    name: str
    prepared: PreparedLMModel
    backend: ModelBackend


def levels(tables: list[TableName]) -> list[DetailLevel]:
    """The detail levels the tables need: words per word, characters per character."""
    wanted: list[DetailLevel] = []
    if "words" in tables:
        wanted.append("per_word")
    if "characters" in tables:
        wanted.append("per_char")
    return wanted


def score_config(text: str, level: DetailLevel, top_k: int | None) -> ScoreConfig:
    """``score``'s config for ``text`` at ``level`` (top-k characters per character)."""
    return {
        "text": text,
        "path": None,
        "detail_level": level,
        "top_k": top_k if level == "per_char" else None,
        "seed": None,
        "attribution": "char_probability",
        "beam": 1,
        "word_pattern": SCORE_WORDS,
    }


def _limit(prepared: PreparedLMModel, cfg: CorpusScoreConfig) -> int:
    """The most ids (start id included) a document may have to go into a batch.

    A longer one is scored alone, as ``score`` reads it (windows, or a state carried): a
    model's positions end at its context even where it reads in steps (GPT-2).
    """
    return min(prepared["max_seq_len"], cfg["batch_tokens"])


def _take(scored: Scored, level: DetailLevel, outcome: ScoreOutcome) -> None:
    """Keep what the tables read of ``outcome``, ``score``'s at ``level``."""
    scored["tokens"] = outcome["num_tokens"]
    scored["bits"] = outcome["canonical_bits"]
    if level == "summary":
        return
    scored["char_bits"] = outcome.get("char_bits")
    if level == "per_word":
        scored["per_word"] = outcome.get("per_word", [])
    else:
        scored["per_char"] = outcome.get("per_char", [])


class _Window:
    """The documents of one window for one model, and how they are read."""

    def __init__(self, use: ModelUse, docs: list[tuple[int, Record]], cfg: CorpusScoreConfig):
        self.prepared = use["prepared"]
        self.cfg = cfg
        self.wanted = levels(cfg["tables"])
        self.out: list[Scored] = [
            {
                "doc": doc,
                "model": use["name"],
                "text": record["text"],
                "meta": record["meta"],
                "tokens": 0,
                "bits": 0.0,
                "char_bits": None,
                "per_word": None,
                "per_char": None,
            }
            for doc, record in docs
        ]
        self.precision = resolve_precision(cfg["precision"], self.prepared["device"])
        self.encoded: dict[int, EncodedText] = {}
        self.sizes: dict[int, int] = {}

    def ids(self, settings: Settings) -> dict[int, Tensor]:
        """Each non-empty document's ids, the start id first, as ``score`` reads them."""
        prepared = self.prepared
        if not self.wanted:
            start = prepared.get("start_id", prepared["eos_id"])
            encode = prepared["tokenizer"].encode
            found = {
                index: torch.tensor([start, *encode(scored["text"])], device=prepared["device"])
                for index, scored in enumerate(self.out)
                if scored["text"]
            }
            self.sizes = {index: ids.shape[0] for index, ids in found.items()}
            return found
        for index, scored in enumerate(self.out):
            if scored["text"]:
                level_cfg = score_config(scored["text"], self.wanted[0], None)
                self.encoded[index] = encode_text(prepared, level_cfg, settings)
        found = {index: encoded["ids"] for index, encoded in self.encoded.items()}
        self.sizes = {index: ids.shape[0] for index, ids in found.items()}
        return found

    def forward(self, forward: BatchForward, batch: Tensor) -> Tensor:
        """The logits (B, T, V) of ``batch`` (B, T), documents padded on the right."""
        self.prepared["model"].eval()
        with autocast(self.prepared["device"], self.precision):
            return forward(self.prepared, batch)

    def totals(self, members: list[int], batch: Tensor, logits: Tensor) -> None:
        """Each member's canonical surprisal, read from the batch's logits at once.

        ``batch`` (B, T) holds the members' ids; ``logits`` (B, T, V) its forward pass.
        """
        rows = logits[:, :-1].float()  # (B, T - 1, V)
        picked = rows.gather(2, batch[:, 1:, None])[..., 0]  # (B, T - 1)
        nll = torch.logsumexp(rows, dim=-1) - picked  # (B, T - 1)
        lengths = torch.tensor([self.sizes[index] - 1 for index in members])  # (B,) tokens
        mask = torch.arange(nll.shape[1])[None, :] < lengths[:, None]  # (B, T - 1)
        sums = (nll.double().cpu() * mask).sum(dim=1)  # (B,)
        for row, index in enumerate(members):
            self.out[index]["tokens"] = int(lengths[row])
            self.out[index]["bits"] = float(sums[row]) / LN2

    def detail(self, members: list[int], logits: Tensor) -> None:
        """Each member's outcomes at the wanted levels, from its own rows of ``logits``."""
        for row, index in enumerate(members):
            scored = self.out[index]
            rows = logits[row, : self.encoded[index]["ids"].shape[0]].float()  # (T + 1, V)
            for level in self.wanted:
                level_cfg = score_config(scored["text"], level, self.cfg["top_k"])
                encoded: EncodedText = {**self.encoded[index], "top_k": level_cfg["top_k"]}
                _take(scored, level, score_rows(self.prepared, level_cfg, encoded, rows))


def score_window(
    use: ModelUse,
    docs: list[tuple[int, Record]],
    cfg: CorpusScoreConfig,
    settings: Settings,
    cancelled: Callable[[], bool],
) -> list[Scored] | None:
    """Every document of ``docs`` scored by ``use``, in order; None when ``cancelled()``."""
    window = _Window(use, docs, cfg)
    ids = window.ids(settings)
    forward = use["backend"].batch_forward()
    alone = list(ids)
    if forward is not None:
        limit = _limit(use["prepared"], cfg)
        short = [index for index in ids if ids[index].shape[0] <= limit]
        alone = [index for index in ids if ids[index].shape[0] > limit]
        for group in pack([ids[index].shape[0] for index in short], cfg["batch_tokens"]):
            if cancelled():
                return None
            members = [short[position] for position in group]
            batch = padded([ids[index] for index in members], use["prepared"]["pad_id"])
            logits = window.forward(forward, batch)  # (B, T, V)
            if window.wanted:
                window.detail(members, logits)
            else:
                window.totals(members, batch, logits)
    for index in alone:
        if cancelled():
            return None
        scored = window.out[index]
        for level in window.wanted or ["summary"]:
            level_cfg = score_config(scored["text"], level, cfg["top_k"])
            outcome = use["backend"].score(
                prepared=use["prepared"], cfg=level_cfg, settings=settings
            )
            _take(scored, level, outcome)
    return window.out

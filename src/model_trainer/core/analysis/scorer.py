"""One window of documents scored by one model: batched forward passes, then each document.

A document whose ids fit the model's context (a stateful model: the batch budget) goes into
a right-padded batch with documents of about its length, one forward pass a batch through the
family's ``batch_forward``; its outcomes are ``score_rows`` of its own rows, ``mt.score``'s
figures. A longer document, or any document of a family without a batched forward, is scored
alone by the family's ``score`` (windowed, as ``mt.score`` does). An empty document is not
read by the model: no tokens, no bits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from model_trainer.core.analysis.batches import pack
from model_trainer.core.analysis.records import Record
from model_trainer.core.analysis.tables import Scored
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.corpus import SCORE_WORDS, CorpusScoreConfig, TableName
from model_trainer.core.contracts.model import (
    DetailLevel,
    ModelBackend,
    PreparedLMModel,
    ScoreConfig,
)
from model_trainer.core.contracts.stateful import StepModel
from model_trainer.core.inference.batched import padded
from model_trainer.core.inference.score import EncodedText, encode_text, score_rows
from model_trainer.core.training.device import autocast, resolve_precision

Level = DetailLevel


class ModelUse(TypedDict):
    """A model of a scoring: its name in the tables, the model, and its family's backend."""

    name: str
    prepared: PreparedLMModel
    backend: ModelBackend


def levels(tables: list[TableName]) -> list[Level]:
    """The detail levels the tables need: words per word, characters per character."""
    wanted: list[Level] = []
    if "words" in tables:
        wanted.append("per_word")
    if "characters" in tables:
        wanted.append("per_char")
    return wanted or ["summary"]


def score_config(text: str, level: Level, top_k: int | None) -> ScoreConfig:
    """``mt.score``'s config for ``text`` at ``level`` (top-k characters per character)."""
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
    """The most ids (start id included) a document may have to go into a batch."""
    if isinstance(prepared["model"], StepModel):
        return cfg["batch_tokens"]
    return prepared["max_seq_len"]


def score_window(
    use: ModelUse,
    docs: list[tuple[int, Record]],
    cfg: CorpusScoreConfig,
    settings: Settings,
    cancelled: Callable[[], bool],
) -> list[Scored] | None:
    """Every document of ``docs`` scored by ``use``, in order; None when ``cancelled()``."""
    prepared, backend = use["prepared"], use["backend"]
    wanted = levels(cfg["tables"])
    out: list[Scored] = [
        {
            "doc": doc,
            "model": use["name"],
            "text": record["text"],
            "meta": record["meta"],
            "summary": None,
            "per_word": None,
            "per_char": None,
        }
        for doc, record in docs
    ]
    encoded: dict[int, EncodedText] = {
        index: encode_text(prepared, score_config(scored["text"], wanted[0], None), settings)
        for index, scored in enumerate(out)
        if scored["text"]
    }
    forward = backend.batch_forward()
    limit = _limit(prepared, cfg) if forward is not None else 0
    short = [index for index in encoded if encoded[index]["ids"].shape[0] <= limit]
    precision = resolve_precision(cfg["precision"], prepared["device"])
    lengths = [encoded[index]["ids"].shape[0] for index in short]
    for batch in pack(lengths, cfg["batch_tokens"]):
        if cancelled() or forward is None:
            return None
        members = [short[position] for position in batch]
        ids = padded([encoded[index]["ids"] for index in members], prepared["pad_id"])
        with autocast(prepared["device"], precision):
            logits = forward(prepared, ids)  # (B, T, V)
        for row, index in enumerate(members):
            rows = logits[row, : encoded[index]["ids"].shape[0]].float()  # (T + 1, V)
            for level in wanted:
                level_cfg = score_config(out[index]["text"], level, cfg["top_k"])
                text_ids: EncodedText = {**encoded[index], "top_k": level_cfg["top_k"]}
                out[index][level] = score_rows(prepared, level_cfg, text_ids, rows)
    alone = set(short)
    for index in encoded:
        if index in alone:
            continue
        if cancelled():
            return None
        for level in wanted:
            level_cfg = score_config(out[index]["text"], level, cfg["top_k"])
            out[index][level] = backend.score(prepared=prepared, cfg=level_cfg, settings=settings)
    return out

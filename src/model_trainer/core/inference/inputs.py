"""The text to score or the prompt to continue, read and checked before a model runs."""

from __future__ import annotations

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import GenerateConfig, ScoreConfig
from model_trainer.core.data.corpus import read_text_file
from model_trainer.core.errors import ModelTrainerError


def check_top_k(top_k: int | None, vocab_size: int) -> None:
    """Raise INVALID_CONFIG when ``top_k`` asks for more tokens than the vocabulary has."""
    if top_k is not None and top_k > vocab_size:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"top_k must be at most the vocabulary size {vocab_size}, got {top_k}",
        )


def _read(field: str, path: str, max_chars: int) -> str:
    text = read_text_file(path, field)
    if text == "":
        raise ModelTrainerError("INVALID_CONFIG", f"{field} {path!r} holds no text")
    if len(text) > max_chars:
        raise ModelTrainerError(
            "CORPUS_TOO_LARGE",
            f"{field} {path!r} holds {len(text)} characters, more than the max_corpus_chars "
            f"setting ({max_chars}); raise it with MODEL_TRAINER_MAX_CORPUS_CHARS",
        )
    return text


def score_text(cfg: ScoreConfig, settings: Settings) -> str:
    """The text of ``cfg``: ``text`` itself, or the UTF-8 file at ``path``."""
    text = cfg["text"]
    if text is None:
        return _read("path", str(cfg["path"]), settings["max_corpus_chars"])
    return text


def prompt_text(cfg: GenerateConfig, settings: Settings) -> str:
    """The prompt of ``cfg``: ``prompt_text`` itself, or the UTF-8 file at ``prompt_path``."""
    text = cfg["prompt_text"]
    if text is None:
        return _read("prompt_path", str(cfg["prompt_path"]), settings["max_corpus_chars"])
    if text == "":
        raise ModelTrainerError("INVALID_CONFIG", "prompt_text must be a non-empty string, got ''")
    return text

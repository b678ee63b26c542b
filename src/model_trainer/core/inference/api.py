"""Score and sample with whichever family a prepared model belongs to.

``score`` and ``generate`` pick the family's own functions by ``prepared["model_family"]``
(GPT-2 with its key/value cache, the char-LSTM with its state, the fake model with the naive
loop). A family they do not know is served generically, as a forward-only model whose
context is ``prepared["max_seq_len"]``: sliding windows to score, the naive loop to sample.
``generate`` takes ``on_token(sequence_index, token_text, prob)`` to stream each sampled
token, e.g. into a notebook cell.
"""

from __future__ import annotations

from typing import Protocol

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GenerateOutcome,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
)
from model_trainer.core.inference.generate import TokenCallback, generate_naive
from model_trainer.core.inference.score import score_windowed


class _Streamer(Protocol):
    def __call__(
        self,
        prepared: PreparedLMModel,
        cfg: GenerateConfig,
        settings: Settings,
        *,
        on_token: TokenCallback | None,
    ) -> GenerateOutcome: ...


class _Scorer(Protocol):
    def __call__(
        self, prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
    ) -> ScoreOutcome: ...


def _family_functions(family: str) -> tuple[_Scorer, _Streamer] | None:
    if family == "gpt2":
        from model_trainer.core.backends.gpt2.generate import stream_gpt2
        from model_trainer.core.backends.gpt2.score import score_gpt2

        return score_gpt2, stream_gpt2
    if family == "char_lstm":
        from model_trainer.core.backends.char_lstm.generate import stream_char_lstm
        from model_trainer.core.backends.char_lstm.score import score_char_lstm

        return score_char_lstm, stream_char_lstm
    if family == "fake":
        from model_trainer.core.backends.fake.generate import stream_fake
        from model_trainer.core.backends.fake.score import score_fake

        return score_fake, stream_fake
    return None


def score(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> ScoreOutcome:
    """Score ``cfg``'s text with ``prepared`` (see ``inference/score.py`` for the figures)."""
    functions = _family_functions(prepared["model_family"])
    if functions is None:
        return score_windowed(prepared["model"], prepared, cfg, settings)
    return functions[0](prepared, cfg, settings)


def generate(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample continuations of ``cfg``'s prompt, calling ``on_token`` for each new token."""
    functions = _family_functions(prepared["model_family"])
    if functions is None:
        return generate_naive(
            prepared["model"],
            prepared,
            cfg,
            settings,
            context_len=prepared["max_seq_len"],
            on_token=on_token,
        )
    return functions[1](prepared, cfg, settings, on_token=on_token)

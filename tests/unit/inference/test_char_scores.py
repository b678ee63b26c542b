"""Per-character scores held as arrays: items on demand, slices, equality, long texts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import score_config
from model_trainer.core.contracts.model import CharScore, PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.inference.char_scores import CharScores
from model_trainer.core.inference.score import score_stateful, score_windowed, text_pieces
from model_trainer.core.inference.surprisal import empty_scores

Prepare = Callable[[str, TokenizerHandle, int], PreparedLMModel]


def _scores(with_top_k: bool) -> CharScores:
    # "abc" as two tokens: "ab" then "c"
    top = empty_scores(2, 2)
    top["rank"][:] = torch.tensor([1, 3], dtype=torch.int32)
    top["top_ids"][:] = torch.tensor([[5, 6], [7, 8]], dtype=torch.int32)
    top["top_probs"][:] = torch.tensor([[0.5, 0.25], [0.75, 0.125]])
    return CharScores(
        "abc",
        {
            "char_bits": torch.tensor([1.0, 1.0, 4.0], dtype=torch.float64),
            "char_token": torch.tensor([0, 0, 1]),
            "token_start": torch.tensor([0, 2]),
            "rank": top["rank"],
            "top_ids": top["top_ids"],
            "top_probs": top["top_probs"],
        },
        name=lambda token_id: f"<{token_id}>",
        with_top_k=with_top_k,
    )


def test_items_are_built_on_demand() -> None:
    scores = _scores(True)
    first: CharScore = {
        "char": "a",
        "surprisal_bits": 1.0,
        "token_index": 0,
        "rank": 1,
        "top_k": [{"text": "<5>", "prob": 0.5}, {"text": "<6>", "prob": 0.25}],
    }
    second: CharScore = {"char": "b", "surprisal_bits": 1.0, "token_index": 0, "rank": 1}
    third: CharScore = {
        "char": "c",
        "surprisal_bits": 4.0,
        "token_index": 1,
        "rank": 3,
        "top_k": [{"text": "<7>", "prob": 0.75}, {"text": "<8>", "prob": 0.125}],
    }
    assert len(scores) == 3
    assert scores[0] == first
    assert scores[-1] == third
    assert scores[1:] == [second, third]
    assert scores[::2] == [first, third]
    assert list(scores) == [first, second, third]
    assert scores == [first, second, third]
    assert scores != [first, second]
    assert scores != "abc"
    assert (scores == 3) is False
    with pytest.raises(IndexError, match="character 3 of a text of 3 characters"):
        scores[3]
    with pytest.raises(IndexError):
        scores[-4]
    assert "top_k" not in _scores(False)[0]
    with pytest.raises(TypeError, match="unhashable"):
        hash(scores)


def test_text_pieces_cut_after_a_line_break_between_words() -> None:
    text = "aaaa\nbbbb\n\ncccc \ndddd\neeee"
    assert list(text_pieces(text, 3)) == [(0, 5), (5, 22), (22, 26)]
    assert list(text_pieces("no breaks here", 3)) == [(0, 14)]
    assert list(text_pieces("a\n\n\n", 1)) == [(0, 4)]
    assert list(text_pieces("short", 100)) == [(0, 5)]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_a_text_encoded_in_pieces_scores_as_a_whole(
    prepare: Prepare,
    tokenizers: dict[str, TokenizerHandle],
    corpus: str,
    settings: Settings,
    kind: str,
) -> None:
    tokenizer = tokenizers[kind]
    text = corpus[:3000]
    prepared = prepare("gpt2", tokenizer, 64)
    cfg = score_config(text=text, detail_level="per_char", top_k=3)
    whole = score_windowed(prepared["model"], prepared, cfg, settings)
    assert len(list(text_pieces(text, 200))) > 5
    pieces = score_windowed(prepared["model"], prepared, cfg, settings, piece_chars=200)
    assert pieces["num_tokens"] == whole["num_tokens"]
    assert pieces["loss"] == pytest.approx(whole["loss"], rel=1e-6)
    assert [s["token_index"] for s in pieces["per_char"]] == [
        s["token_index"] for s in whole["per_char"]
    ]


def test_a_long_text_keeps_its_total_per_char(
    prepare: Prepare, char_tok: TokenizerHandle, corpus: str, settings: Settings
) -> None:
    prepared = prepare("char_lstm", char_tok, 64)
    text = corpus * 3
    model = prepared["model"]
    assert isinstance(model, CharLSTM)
    cfg = score_config(text=text, detail_level="per_char", top_k=2)
    outcome = score_stateful(model, prepared, cfg, settings, piece_chars=5000)
    per_char = outcome["per_char"]
    assert isinstance(per_char, CharScores)
    assert len(per_char) == len(text)
    total_bits = sum(s["surprisal_bits"] for s in per_char)
    assert total_bits == pytest.approx(outcome["bits_per_char"] * len(text), rel=1e-9)

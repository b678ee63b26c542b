"""Word surprisal: characters plus the word's ending, against a hand computation."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
import torch

from model_trainer.core.backends.dispatch import score
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import score_config
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer

Prepare = Callable[[str, TokenizerHandle, int], PreparedLMModel]
STIMULUS = "I saw it.\nThe end"
WORD = re.compile(r"[\w']+|[^\w\s]")


def _by_hand(prepared: PreparedLMModel, tokenizer: CharTokenizer, text: str) -> list[float]:
    """Each word's bits from the model's own next-character distributions."""
    ids = [prepared.get("start_id", prepared["eos_id"]), *tokenizer.encode(text)]
    with torch.no_grad():
        probs = prepared["model"](torch.tensor([ids]))[0].double().softmax(-1)  # (N + 1, V)
    chars = {i: tokenizer.id_to_text(i) for i in range(tokenizer.vocab_size)}
    specials = {tokenizer.eos_id, tokenizer.pad_id, tokenizer.unk_id}
    out = []
    for match in WORD.finditer(text):
        start, end = match.span()
        bits = sum(-math.log2(float(probs[n, ids[n + 1]])) for n in range(start, end))
        goes_on = sum(
            float(probs[end, i])
            for i, char in chars.items()
            if i not in specials and WORD.fullmatch(match.group() + char)
        )
        out.append(bits - math.log2(1.0 - goes_on))
    return out


@pytest.mark.parametrize("family", ["gpt2", "char_lstm"])
def test_word_surprisal_equals_a_hand_computation(
    family: str, prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare(family, char_tok, 64)
    prepared["model"].eval()
    outcome = score(prepared, score_config(text=STIMULUS, detail_level="per_word"), settings)
    words = outcome["per_word"]
    assert [w["word"] for w in words] == ["I", "saw", "it", ".", "The", "end"]
    assert [(w["start"], w["end"]) for w in words][4] == (10, 13)  # after the line break
    assert [w["surprisal_bits"] for w in words] == pytest.approx(
        _by_hand(prepared, char_tok, STIMULUS), rel=1e-6
    )
    assert words[3]["end_bits"] == 0.0  # a punctuation mark always ends where it ends
    assert all(w["end_bits"] > 0 for w in words if w["word"] != ".")
    assert "per_char" not in outcome


def test_token_model_words_are_their_characters_and_their_end(
    prepare: Prepare, bpe_tok: BPETokenizer, settings: Settings
) -> None:
    prepared = prepare("gpt2", bpe_tok, 16)
    text = "The cat's toy, and then... the end"
    chars = score(prepared, score_config(text=text, detail_level="per_char"), settings)
    words = score(
        prepared, score_config(text=text, detail_level="per_word", word_pattern=r"\w+"), settings
    )["per_word"]
    bits = [c["surprisal_bits"] for c in chars["per_char"]]
    assert [w["word"] for w in words] == ["The", "cat", "s", "toy", "and", "then", "the", "end"]
    for word in words:
        assert word["end_bits"] >= 0
        assert word["surprisal_bits"] == pytest.approx(
            math.fsum(bits[word["start"] : word["end"]]) + word["end_bits"], rel=1e-9
        )


def test_a_text_without_words_has_an_empty_list(
    prepare: Prepare, bpe_tok: BPETokenizer, settings: Settings
) -> None:
    prepared = prepare("fake", bpe_tok, 16)
    outcome = score(prepared, score_config(text=" \n ", detail_level="per_word"), settings)
    assert outcome["per_word"] == []


def test_a_word_pattern_must_be_a_regular_expression() -> None:
    with pytest.raises(ModelTrainerError) as caught:
        score_config(text="a", detail_level="per_word", word_pattern="[a")
    assert caught.value.code == "INVALID_CONFIG"
    assert "word_pattern must be a regular expression" in caught.value.message

"""Character probabilities of token models against brute force over every covering path."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache

import pytest
import torch

import model_trainer as mt
from model_trainer.core.backends.dispatch import score
from model_trainer.core.backends.hf_causal_lm.tiny import ARCHS, Arch
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import score_config
from model_trainer.core.contracts.model import PreparedLMModel, ScoreOutcome
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.char_probs import byte_layout
from model_trainer.core.inference.vocab_text import (
    char_at,
    prefix_range,
    texts_from_json,
    vocab_text,
)
from model_trainer.core.tokenizers.bpe import BPETokenizer

Prepare = Callable[[str, TokenizerHandle, int], PreparedLMModel]
OVERLAPPING = "the then there other them these this that than thin " * 10
TEXT = "then the"


class Enumerated:
    """Exact prefix probabilities of ``data`` from every token path, one forward each."""

    def __init__(self, prepared: PreparedLMModel, data: bytes) -> None:
        self.data = data
        self.start = prepared.get("start_id", prepared["eos_id"])
        self.model = prepared["model"]
        pieces = vocab_text(prepared["tokenizer"])["token_bytes"]
        self.texts = [(i, piece) for i, piece in enumerate(pieces) if piece]
        self.paths = cache(self._paths)
        self.after = cache(self._after)

    def _paths(self, end: int) -> list[tuple[int, ...]]:
        """Every path of text tokens spelling ``data[:end]`` exactly."""
        if end == 0:
            return [()]
        return [
            (*head, i)
            for i, piece in self.texts
            if len(piece) <= end and self.data[end - len(piece) : end] == piece
            for head in self.paths(end - len(piece))
        ]

    def _after(self, path: tuple[int, ...]) -> tuple[float, list[float]]:
        """log P(path) and the next-token probabilities after it."""
        with torch.no_grad():
            logp = self.model(torch.tensor([[self.start, *path]]))[0].double().log_softmax(-1)
        log_path = sum(float(logp[n, token]) for n, token in enumerate(path))
        probs: list[float] = logp[len(path)].exp().tolist()
        return log_path, probs

    def covers(self, path: tuple[int, ...], start: int, end: int) -> float:
        """P(path) times the mass of the tokens whose text begins with data[start:end]."""
        log_path, probs = self.after(path)
        wanted = self.data[start:end]
        return math.exp(log_path) * sum(
            probs[i] for i, piece in self.texts if piece.startswith(wanted)
        )

    def prefix(self, end: int) -> float:
        """P(the model's bytes begin with data[:end]): every cover, enumerated."""
        return sum(
            self.covers(path, start, end) for start in range(end) for path in self.paths(start)
        )


def _char_ends(text: str, lead: int) -> list[int]:
    ends, at = [], lead
    for char in text:
        at += len(char.encode("utf-8"))
        ends.append(at)
    return ends


def _kit_prefixes(outcome: ScoreOutcome) -> list[float]:
    bits = [c["surprisal_bits"] for c in outcome["per_char"]]
    return [2.0 ** -sum(bits[: n + 1]) for n in range(len(bits))]


@pytest.fixture(scope="module")
def overlapping() -> BPETokenizer:
    """A byte-level BPE with a few dozen merges whose texts overlap (th, the, then, ...)."""
    return BPETokenizer.train(OVERLAPPING, 258 + 30)


def test_a_wide_beam_is_exact_and_beam_one_sums_the_canonical_covers(
    prepare: Prepare, overlapping: BPETokenizer, settings: Settings
) -> None:
    torch.manual_seed(3)
    prepared = prepare("gpt2", overlapping, 64)
    prepared["model"].eval()
    truth = Enumerated(prepared, TEXT.encode())
    ends = _char_ends(TEXT, 0)
    tokenizations = len(truth.paths(len(TEXT)))
    assert tokenizations > 4  # the text has many coverings
    exact = [truth.prefix(end) for end in ends]
    wide = score(
        prepared, score_config(text=TEXT, detail_level="per_char", beam=tokenizations), settings
    )
    assert _kit_prefixes(wide) == pytest.approx(exact, rel=1e-6)
    assert wide["char_bits"] == pytest.approx(-math.log2(exact[-1]), rel=1e-6)
    # Beam 1: the canonical path up to its last boundary before each prefix's end.
    canonical = overlapping.encode(TEXT)
    bounds = [0]
    for token in canonical:
        bounds.append(bounds[-1] + len(overlapping.id_to_text(token).encode()))
    one = score(prepared, score_config(text=TEXT, detail_level="per_char"), settings)
    expected = []
    for end in ends:
        t = max(n for n, bound in enumerate(bounds) if bound < end)
        expected.append(truth.covers(tuple(canonical[:t]), bounds[t], end))
    assert _kit_prefixes(one) == pytest.approx(expected, rel=1e-6)
    assert all(b <= e * (1 + 1e-6) for b, e in zip(_kit_prefixes(one), exact, strict=True))
    assert one["char_bits"] <= one["canonical_bits"]
    assert sum(c["surprisal_bits"] for c in one["per_char"]) == pytest.approx(one["char_bits"])


@pytest.mark.parametrize("beam", [1, 3])
def test_the_expected_characters_sum_to_at_most_one(
    prepare: Prepare, overlapping: BPETokenizer, settings: Settings, beam: int
) -> None:
    torch.manual_seed(4)
    prepared = prepare("gpt2", overlapping, 64)
    outcome = score(
        prepared, score_config(text=TEXT, detail_level="per_char", top_k=200, beam=beam), settings
    )
    for char in outcome["per_char"]:
        listed = char.get("top_k", [])
        assert len({item["text"] for item in listed}) == len(listed) >= 1
        assert sum(item["prob"] for item in listed) <= 1 + 1e-9
        own = [item["prob"] for item in listed if item["text"] == char["char"]]
        assert own == [pytest.approx(2.0 ** -char["surprisal_bits"])]


@pytest.mark.parametrize("arch", ARCHS)
def test_pretrained_tokenizers_are_exact_on_emoji_cjk_and_combining_marks(
    checkpoints: dict[Arch, str], arch: Arch
) -> None:
    text = "e\u0301😀日"
    prepared = mt.load_model(checkpoints[arch], device="cpu")
    lead = 1 if arch == "llama" else 0  # its tokenizer puts a "▁" before the text
    truth = Enumerated(prepared, b" " * lead + text.encode())
    given = truth.prefix(lead) if lead else 1.0
    exact = [truth.prefix(end) / given for end in _char_ends(text, lead)]
    tokenizations = len(truth.paths(len(truth.data)))
    outcome = mt.score(prepared, text=text, detail_level="per_char", beam=tokenizations)
    assert _kit_prefixes(outcome) == pytest.approx(exact, rel=1e-6)
    canonical = mt.score(prepared, text=text, detail_level="per_char")
    assert all(b <= e * (1 + 1e-6) for b, e in zip(_kit_prefixes(canonical), exact, strict=True))


def test_a_char_model_keeps_its_token_numbers(
    prepare: Prepare, tokenizers: dict[str, TokenizerHandle], settings: Settings
) -> None:
    prepared = prepare("char_lstm", tokenizers["char"], 64)
    cfg = {"text": "the café", "detail_level": "per_char", "top_k": 3}
    probs = score(prepared, score_config(**cfg), settings)
    even = score(prepared, score_config(**cfg, attribution="even_spread"), settings)
    assert list(probs["per_char"]) == list(even["per_char"])
    assert probs["char_bits"] == probs["canonical_bits"]
    assert even["char_bits"] == even["canonical_bits"]  # exact by construction


def test_a_text_with_one_tokenization_stops_the_beam_early(
    prepare: Prepare, overlapping: BPETokenizer, settings: Settings
) -> None:
    prepared = prepare("gpt2", overlapping, 64)
    one = score(prepared, score_config(text="x", detail_level="per_char"), settings)
    wide = score(prepared, score_config(text="x", detail_level="per_char", beam=5), settings)
    assert wide["char_bits"] == pytest.approx(one["char_bits"], rel=1e-9)


def test_a_stateful_model_over_bpe_reads_character_probabilities(
    prepare: Prepare, overlapping: BPETokenizer, settings: Settings
) -> None:
    torch.manual_seed(5)
    prepared = prepare("char_lstm", overlapping, 64)
    truth = Enumerated(prepared, TEXT.encode())
    exact = [truth.prefix(end) for end in _char_ends(TEXT, 0)]
    beam = len(truth.paths(len(TEXT)))
    cfg = score_config(text=TEXT, detail_level="per_char", beam=beam)
    assert _kit_prefixes(score(prepared, cfg, settings)) == pytest.approx(exact, rel=1e-6)


def test_tokens_that_do_not_spell_the_text_are_refused(overlapping: BPETokenizer) -> None:
    vocab = vocab_text(overlapping)
    x = overlapping.encode("x")
    with pytest.raises(ModelTrainerError) as caught:
        byte_layout("ab", x, [0], [2], vocab)
    assert caught.value.code == "MODEL_INCOMPATIBLE"
    assert "at byte 0" in caught.value.message
    assert "even_spread" in caught.value.message


def test_tokens_of_the_right_length_with_other_bytes_are_refused(
    overlapping: BPETokenizer,
) -> None:
    vocab = vocab_text(overlapping)
    xy = overlapping.encode("x") * 2
    with pytest.raises(ModelTrainerError) as caught:
        byte_layout("ab", xy, [0, 1], [1, 2], vocab)
    assert caught.value.code == "MODEL_INCOMPATIBLE"
    assert "at byte 0" in caught.value.message


def test_an_added_token_in_the_text_spells_its_span(overlapping: BPETokenizer) -> None:
    vocab = vocab_text(overlapping)
    marker = "<|endoftext|>"
    ids = [
        *overlapping.encode("a"),
        overlapping.eos_id,
        overlapping.eos_id,
        *overlapping.encode("b"),
    ]
    spans = [0, 1, 1 + len(marker), 1 + 2 * len(marker)]
    text = f"a{marker}{marker}b"
    layout = byte_layout(text, ids, spans, [*spans[1:], len(text)], vocab)
    assert layout["token_end"].tolist() == [1, 14, 27, 28]
    assert layout["token_text"][1] == layout["token_text"][2]
    assert layout["texts"][int(layout["token_text"][1])] == marker.encode()


def test_token_bytes_come_from_byte_level_and_byte_fallback_vocabularies() -> None:
    byte_level = {
        "model": {"type": "BPE", "vocab": {"a": 0, "Ġb": 1, "é": 2, "<s>": 3, "€": 4}},
        "decoder": {"type": "ByteLevel"},
        "added_tokens": [{"id": 3, "content": "<s>"}],
    }
    assert texts_from_json(json.dumps(byte_level), "t") == [b"a", b" b", b"\xe9", None, None]
    fallback = {
        "model": {"type": "BPE", "vocab": {"<0x41>": 0, "▁hi": 1, "€": 2}},
        "decoder": {
            "type": "Sequence",
            "decoders": [{"type": "Metaspace"}, {"type": "ByteFallback"}],
        },
    }
    assert texts_from_json(json.dumps(fallback), "t") == [b"A", b" hi", "€".encode()]
    wordpiece = {"model": {"type": "WordPiece", "vocab": {"a": 0}}, "decoder": None}
    with pytest.raises(ModelTrainerError) as caught:
        texts_from_json(json.dumps(wordpiece), "bert")
    assert caught.value.code == "MODEL_INCOMPATIBLE"
    assert "'bert'" in caught.value.message


def test_prefix_ranges_and_whole_characters() -> None:
    order = [b"a", b"ab", b"abc", b"b", b"\xff", b"\xff\xff"]
    assert prefix_range(order, b"ab") == (1, 3)
    assert prefix_range(order, b"") == (0, 6)
    assert prefix_range(order, b"\xff") == (4, 6)
    assert prefix_range(order, b"c") == (4, 4)
    assert [char_at(b"a\xc3\xa9", at) for at in range(4)] == [ord("a"), ord("é"), -1, -1]
    assert char_at(b"\xe6\x97", 0) == -1  # the character goes on past the piece

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from model_trainer.core.backends.char_lstm.backend import score_char_lstm
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.backends.dispatch import score
from model_trainer.core.backends.gpt2.backend import score_gpt2
from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import score_config
from model_trainer.core.contracts.model import PreparedLMModel, ScoreConfig
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.forward_only import score_forward_only
from model_trainer.core.inference.score import score_windowed, stateful_scores, windowed_scores
from model_trainer.core.inference.windows import plan_windows
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer

Prepare = Callable[[str, TokenizerHandle, int], PreparedLMModel]
LN2 = math.log(2.0)
TEXT = "def score(text):\n    return -log(p)  # naïve €\n"


def _text(corpus: str, length: int) -> str:
    return corpus[1000 : 1000 + length]


@pytest.mark.parametrize(
    "case",
    [("gpt2", "char"), ("gpt2", "bpe"), ("char_lstm", "char"), ("fake", "char"), ("fake", "bpe")],
)
def test_per_char_surprisals_sum_to_the_total(
    case: tuple[str, str],
    prepare: Prepare,
    tokenizers: dict[str, TokenizerHandle],
    corpus: str,
    settings: Settings,
) -> None:
    family, kind = case
    prepared = prepare(family, tokenizers[kind], 16)
    text = _text(corpus, 150) + "naïve — 東京"
    cfg = score_config(text=text, detail_level="per_char", top_k=4, attribution="even_spread")
    out = score(prepared, cfg, settings)
    per_char = out["per_char"]
    assert "".join(item["char"] for item in per_char) == text
    assert out["num_chars"] == len(text)
    total_bits = math.fsum(item["surprisal_bits"] for item in per_char)
    assert total_bits == pytest.approx(out["loss"] * out["num_tokens"] / LN2, rel=1e-9)
    assert out["bits_per_char"] == pytest.approx(total_bits / len(text), rel=1e-9)
    assert out["perplexity"] == pytest.approx(math.exp(out["loss"]))
    assert out["num_unknown_chars"] == 0
    token_indexes = [item["token_index"] for item in per_char]
    assert token_indexes == sorted(token_indexes)
    assert token_indexes[-1] == out["num_tokens"] - 1 or kind == "bpe"
    for item in per_char:
        if "top_k" in item:
            probs = [alt["prob"] for alt in item["top_k"]]
            assert len(probs) == 4
            assert probs == sorted(probs, reverse=True)
            assert item["rank"] >= 1


@pytest.mark.parametrize("family", ["gpt2", "char_lstm", "fake"])
def test_char_rank_is_one_exactly_where_the_char_is_the_argmax(
    family: str, prepare: Prepare, char_tok: CharTokenizer, corpus: str, settings: Settings
) -> None:
    prepared = prepare(family, char_tok, 16)
    text = _text(corpus, 120)
    out = score(prepared, score_config(text=text, detail_level="per_char", top_k=3), settings)
    ones = 0
    for item in out["per_char"]:
        top = item["top_k"]
        assert (item["rank"] == 1) == (top[0]["text"] == item["char"])
        assert item["surprisal_bits"] == pytest.approx(-math.log2(top[0]["prob"]), rel=1e-5) or (
            item["rank"] > 1
        )
        ones += item["rank"] == 1
    assert out["num_tokens"] == len(text)
    assert 0 <= ones < len(text)


def test_bpe_top_k_sits_at_the_first_char_of_each_token(
    prepare: Prepare, bpe_tok: BPETokenizer, settings: Settings
) -> None:
    prepared = prepare("gpt2", bpe_tok, 16)
    cfg = score_config(text=TEXT, detail_level="per_char", top_k=2, attribution="even_spread")
    out = score_gpt2(prepared, cfg, settings)
    spans = [(start, end) for _, start, end in bpe_tok.encode_offsets(TEXT)]
    assert out["num_tokens"] == len(spans) < len(TEXT)
    for pos, item in enumerate(out["per_char"]):
        start, end = spans[item["token_index"]]
        assert start <= pos < end
        assert ("top_k" in item) == (pos == start)
    # the characters of one token share its surprisal and rank
    by_token: dict[int, set[tuple[float, int]]] = {}
    for item in out["per_char"]:
        by_token.setdefault(item["token_index"], set()).add((item["surprisal_bits"], item["rank"]))
    assert all(len(values) == 1 for values in by_token.values())


def test_windows_score_each_token_once_as_from_its_own_history(
    prepare: Prepare, char_tok: CharTokenizer, corpus: str
) -> None:
    prepared = prepare("gpt2", char_tok, 16)
    model = prepared["model"]
    model.eval()
    text = _text(corpus, 70)  # more than four contexts
    ids = torch.tensor([char_tok.eos_id, *char_tok.encode(text)])
    scores = windowed_scores(model, ids, context=16, top_k=None, per_batch=3)
    assert scores["nll"].shape == (len(text),)
    naive: list[float] = []
    with torch.inference_mode():
        for w in plan_windows(len(text), 16):
            for pos in range(w["first_scored"], w["end"]):
                logits = model(ids[None, w["start"] : pos + 1])[0, -1]
                naive.append(float(-torch.log_softmax(logits, dim=-1)[ids[pos + 1]]))
    torch.testing.assert_close(scores["nll"], torch.tensor(naive), rtol=1e-5, atol=1e-5)
    one_batch = windowed_scores(model, ids, context=16, top_k=None, per_batch=64)
    torch.testing.assert_close(scores["nll"], one_batch["nll"], rtol=1e-5, atol=1e-5)


def test_lstm_in_chunks_equals_one_pass(
    prepare: Prepare, char_tok: CharTokenizer, corpus: str
) -> None:
    prepared = prepare("char_lstm", char_tok, 16)
    model = prepared["model"]
    assert isinstance(model, CharLSTM)
    ids = torch.tensor([char_tok.eos_id, *char_tok.encode(_text(corpus, 200))])
    chunked = stateful_scores(model, ids, chunk_len=7, top_k=3)
    whole = stateful_scores(model, ids, chunk_len=10_000, top_k=3)
    with torch.inference_mode():
        logits = model(ids[None, :-1])[0]
    forward_nll = -torch.log_softmax(logits, dim=-1).gather(1, ids[1:, None])[:, 0]
    torch.testing.assert_close(chunked["nll"], whole["nll"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chunked["nll"], forward_nll, rtol=1e-5, atol=1e-5)
    assert torch.equal(chunked["top_ids"], whole["top_ids"])


def test_long_text_is_scored_whole(
    prepare: Prepare, char_tok: CharTokenizer, corpus: str, settings: Settings
) -> None:
    text = _text(corpus, 300)
    for family, scorer in (("gpt2", score_gpt2), ("char_lstm", score_char_lstm)):
        out = scorer(prepare(family, char_tok, 16), score_config(text=text), settings)
        assert out["num_tokens"] == out["num_chars"] == 300
        assert "per_char" not in out


def test_window_batch_size_does_not_change_scores(
    prepare: Prepare, bpe_tok: BPETokenizer, corpus: str, settings: Settings
) -> None:
    prepared = prepare("fake", bpe_tok, 16)
    cfg = score_config(text=_text(corpus, 400), detail_level="per_char")
    auto = score_windowed(prepared["model"], prepared, cfg, settings)
    pairs = score_windowed(prepared["model"], prepared, cfg, settings, per_batch=2)
    assert auto["loss"] == pytest.approx(pairs["loss"], rel=1e-6)
    assert [c["rank"] for c in auto["per_char"]] == [c["rank"] for c in pairs["per_char"]]
    assert all("top_k" not in c for c in auto["per_char"])


def test_unknown_chars_are_counted(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("char_lstm", char_tok, 16)
    out = score(prepared, score_config(text="a\u2603b\u2604", detail_level="per_char"), settings)
    assert out["num_unknown_chars"] == 2
    assert out["num_tokens"] == 4
    assert [c["char"] for c in out["per_char"]] == ["a", "\u2603", "b", "\u2604"]


def test_a_file_scores_as_its_text(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings, tmp_path: Path
) -> None:
    prepared = prepare("fake", char_tok, 16)
    path = tmp_path / "text.txt"
    path.write_bytes(TEXT.encode("utf-8"))
    from_file = score_forward_only(prepared, score_config(path=str(path)), settings)
    from_text = score_forward_only(prepared, score_config(text=TEXT), settings)
    assert from_file == from_text


def _raises(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> ModelTrainerError:
    with pytest.raises(ModelTrainerError) as info:
        score(prepared, cfg, settings)
    return info.value


def test_bad_input_names_the_field_and_value(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings, tmp_path: Path
) -> None:
    prepared = prepare("gpt2", char_tok, 16)
    cfg = score_config(text="x")
    error = _raises(prepared, {**cfg, "text": ""}, settings)
    assert (error.code, "text") == ("INVALID_CONFIG", error.message[:4])
    missing = str(tmp_path / "missing.txt")
    error = _raises(prepared, score_config(path=missing), settings)
    assert error.code == "CORPUS_NOT_FOUND"
    assert "path" in error.message
    assert missing in error.message
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9")
    error = _raises(prepared, score_config(path=str(latin)), settings)
    assert error.code == "INVALID_CONFIG"
    assert "byte offset 3" in error.message
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    error = _raises(prepared, score_config(path=str(empty)), settings)
    assert error.message == f"path {str(empty)!r} holds no text"
    big = tmp_path / "big.txt"
    big.write_text("abcdef", encoding="utf-8")
    error = _raises(prepared, score_config(path=str(big)), {**settings, "max_corpus_chars": 5})
    assert error.code == "CORPUS_TOO_LARGE"
    assert "6 characters" in error.message
    vocab = char_tok.vocab_size
    error = _raises(prepared, score_config(text="x", top_k=vocab + 1), settings)
    assert error.code == "INVALID_CONFIG"
    assert error.message == f"top_k must be at most the vocabulary size {vocab}, got {vocab + 1}"


def test_a_model_of_another_family_is_refused(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    gpt2 = prepare("gpt2", char_tok, 16)
    lstm = prepare("char_lstm", char_tok, 16)
    cfg = score_config(text="x")
    for scorer, prepared in (
        (score_gpt2, lstm),
        (score_char_lstm, gpt2),
    ):
        with pytest.raises(ModelTrainerError) as info:
            scorer(prepared, cfg, settings)
        assert info.value.code == "MODEL_INCOMPATIBLE"
        assert "needs a" in info.value.message


def test_a_family_is_reached_only_through_the_registry(
    prepare: Prepare,
    char_tok: CharTokenizer,
    settings: Settings,
    custom_registry: ModelRegistry,
    calls: list[str],
) -> None:
    prepared = prepare("fake", char_tok, 16)
    cfg = score_config(text=TEXT, detail_level="per_char", top_k=2)
    with pytest.raises(ModelTrainerError) as unknown:
        score({**prepared, "model_family": "other"}, cfg, settings)
    assert unknown.value.code == "MODEL_NOT_FOUND"
    own = score({**prepared, "model_family": "rec"}, cfg, settings, registry=custom_registry)
    assert calls == ["score rec"]
    assert own == score_forward_only(prepared, cfg, settings)
    with pytest.raises(ModelTrainerError) as refused:
        score({**prepared, "model_family": "mute"}, cfg, settings, registry=custom_registry)
    assert refused.value.code == "MODEL_INCOMPATIBLE"
    assert refused.value.message == (
        "model_family 'mute' does not support score (supports_score is False)"
    )
    assert calls == ["score rec"]

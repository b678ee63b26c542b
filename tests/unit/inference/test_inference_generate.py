from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from model_trainer.core.backends.char_lstm.backend import generate_char_lstm
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.backends.dispatch import generate
from model_trainer.core.backends.fake.model import FakeLM
from model_trainer.core.backends.gpt2.backend import generate_gpt2
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.backends.registry import ModelRegistry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import generate_config
from model_trainer.core.contracts.model import GenerateConfig, PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.forward_only import generate_forward_only
from model_trainer.core.inference.generate import (
    fit_prompt,
    generate_cached,
    generate_naive,
    prompt_budget,
)
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer

Prepare = Callable[[str, TokenizerHandle, int], PreparedLMModel]
PROMPT = "The return statement"


def test_prompt_budget_leaves_room_but_keeps_half_a_context() -> None:
    assert prompt_budget(16, 4) == 13
    assert prompt_budget(16, 30) == 8
    assert prompt_budget(15, 30) == 8
    assert prompt_budget(1, 5) == 1


def test_fit_prompt_cuts_from_the_front() -> None:
    assert fit_prompt(0, [5, 6, 7], 16, 4) == {
        "ids": [0, 5, 6, 7],
        "prompt_tokens": 3,
        "truncated": False,
    }
    assert fit_prompt(0, [5, 6, 7], None, 4) == {
        "ids": [0, 5, 6, 7],
        "prompt_tokens": 3,
        "truncated": False,
    }
    long = list(range(10, 30))
    assert fit_prompt(0, long, 16, 4) == {"ids": long[-13:], "prompt_tokens": 13, "truncated": True}


@pytest.mark.parametrize("family", ["gpt2", "char_lstm"])
def test_cached_generation_equals_the_naive_loop(
    family: str, prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare(family, char_tok, 64)
    cfg = generate_config(prompt_text=PROMPT, max_new_tokens=30, top_k=1, num_return_sequences=2)
    if family == "gpt2":
        gpt2 = model_as(prepared, GPT2LM)
        cached = generate_cached(gpt2, prepared, cfg, settings, context_len=64)
        naive = generate_naive(gpt2, prepared, cfg, settings, context_len=64)
    else:
        lstm = model_as(prepared, CharLSTM)
        cached = generate_cached(lstm, prepared, cfg, settings, context_len=None)
        naive = generate_naive(lstm, prepared, cfg, settings, context_len=None)
    assert cached["sequences"][0]["tokens"] == naive["sequences"][0]["tokens"]
    assert cached["outputs"] == naive["outputs"]
    assert len(cached["sequences"][0]["tokens"]) == 30
    assert cached["outputs"][0] == cached["outputs"][1]
    torch.testing.assert_close(
        torch.tensor(cached["sequences"][0]["token_probs"]),
        torch.tensor(naive["sequences"][0]["token_probs"]),
        rtol=1e-4,
        atol=1e-6,
    )


@pytest.mark.parametrize("family", ["gpt2", "char_lstm", "fake"])
def test_a_seed_repeats_its_samples(
    family: str,
    prepare: Prepare,
    bpe_tok: BPETokenizer,
    char_tok: CharTokenizer,
    settings: Settings,
) -> None:
    prepared = prepare(family, char_tok if family == "char_lstm" else bpe_tok, 32)
    cfg = generate_config(
        prompt_text=PROMPT,
        max_new_tokens=12,
        temperature=1.0,
        top_k=50,
        num_return_sequences=3,
        seed=5,
    )
    first = generate(prepared, cfg, settings)
    again = generate(prepared, cfg, settings)
    other = generate(prepared, {**cfg, "seed": 6}, settings)
    assert first == again
    assert first["outputs"] != other["outputs"]
    assert len(first["outputs"]) == len(first["sequences"]) == 3
    assert len(set(first["outputs"])) > 1
    assert [s["text"] for s in first["sequences"]] == first["outputs"]
    assert first["prompt_tokens"] == len(prepared["tokenizer"].encode(PROMPT))
    assert not first["prompt_truncated"]
    unseeded = generate(prepared, {**cfg, "seed": None}, settings)
    assert len(unseeded["outputs"]) == 3


def _model_probs(prepared: PreparedLMModel, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        logits = prepared["model"](torch.tensor([ids]))[0, -1]
    return torch.softmax(logits, dim=-1)


@pytest.mark.parametrize(("top_k", "top_p"), [(3, 1.0), (0, 0.3)])
def test_top_k_and_top_p_restrict_the_sampled_tokens(
    top_k: int, top_p: float, prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("gpt2", char_tok, 64)
    top_k = top_k or char_tok.vocab_size
    ids_of = {char_tok.id_to_text(i): i for i in range(char_tok.vocab_size)}
    cfg = generate_config(
        prompt_text=PROMPT,
        max_new_tokens=15,
        temperature=1.0,
        top_k=top_k,
        top_p=top_p,
        num_return_sequences=4,
        seed=1,
    )
    out = generate(prepared, cfg, settings)
    unrestricted = set()
    for seq in out["sequences"]:
        context = [char_tok.eos_id, *char_tok.encode(PROMPT)]
        for text, prob in zip(seq["tokens"], seq["token_probs"], strict=True):
            token = ids_of[text]
            probs = _model_probs(prepared, context)
            order = torch.argsort(probs, descending=True)
            before = torch.cumsum(probs[order][:top_k], 0) / probs[order][:top_k].sum()
            allowed = order[: min(top_k, int((before < top_p).sum()) + 1)].tolist()
            assert token in allowed
            assert prob == pytest.approx(float(probs[token]), rel=1e-4)
            unrestricted.add(len(allowed) < char_tok.vocab_size)
            context.append(token)
    assert unrestricted == {True}


def test_on_token_streams_every_sampled_token(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("char_lstm", char_tok, 16)
    events: list[tuple[int, str, float]] = []
    cfg = generate_config(prompt_text=PROMPT, max_new_tokens=5, num_return_sequences=2)
    out = generate(prepared, cfg, settings, on_token=lambda i, t, p: events.append((i, t, p)))
    for index, seq in enumerate(out["sequences"]):
        mine = [(t, p) for i, t, p in events if i == index]
        assert mine == list(zip(seq["tokens"], seq["token_probs"], strict=True))
        assert "".join(seq["tokens"]) == seq["text"]
        assert seq["stop_reason"] == "max_new_tokens"
    assert [i for i, _, _ in events] == [0, 1] * 5


def test_a_stop_string_cuts_the_text_before_it(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("fake", char_tok, 64)
    cfg = generate_config(prompt_text=PROMPT, max_new_tokens=20, top_k=1)
    free = generate_forward_only(prepared, cfg, settings)["outputs"][0]
    stop = free[6:8]
    cut = free.index(stop)
    out = generate_forward_only(prepared, {**cfg, "stop_sequences": ["never seen", stop]}, settings)
    seq = out["sequences"][0]
    assert seq["stop_reason"] == "stop_sequence"
    assert seq["text"] == free[:cut]
    assert "".join(seq["tokens"]) == free[: cut + len(stop)]


def test_eos_stops_a_sequence(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("char_lstm", char_tok, 16)
    model = model_as(prepared, CharLSTM)
    with torch.no_grad():
        model.head.bias[char_tok.eos_id] = 50.0
    cfg = generate_config(prompt_text=PROMPT, max_new_tokens=10, top_k=1, num_return_sequences=2)
    out = generate_char_lstm(prepared, cfg, settings)
    for seq in out["sequences"]:
        assert seq["stop_reason"] == "eos"
        assert seq["tokens"] == ["<|endoftext|>"]
        assert seq["text"] == ""
        assert seq["token_probs"][0] == pytest.approx(1.0)


def test_the_context_fills_up(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("gpt2", char_tok, 16)
    cfg = generate_config(prompt_text="abcde", max_new_tokens=30, top_k=1)
    out = generate_gpt2(prepared, cfg, settings)
    seq = out["sequences"][0]
    # 6 tokens fed first (start token + prompt), one more for each new token but the last
    assert len(seq["tokens"]) == 16 - 6 + 1
    assert seq["stop_reason"] == "context_full"
    assert not out["prompt_truncated"]


def test_a_long_prompt_keeps_its_end(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("gpt2", char_tok, 16)
    prompt = "x = 1\n" * 10
    out = generate_gpt2(
        prepared, generate_config(prompt_text=prompt, max_new_tokens=4, top_k=1), settings
    )
    assert out["prompt_truncated"]
    assert out["prompt_tokens"] == 13
    assert out["sequences"][0]["stop_reason"] == "max_new_tokens"
    # the same as continuing the kept end alone, read from the model's own state
    model = model_as(prepared, GPT2LM)
    ids = torch.tensor([char_tok.encode(prompt[-13:])])
    expected: list[int] = []
    with torch.inference_mode():
        for _ in range(4):
            token = int(model(ids)[0, -1].argmax())
            expected.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    assert out["outputs"][0] == char_tok.decode(expected)
    long = generate_gpt2(prepared, generate_config(prompt_text=prompt, max_new_tokens=40), settings)
    assert long["prompt_tokens"] == 8
    assert long["sequences"][0]["stop_reason"] == "context_full"


def test_a_prompt_file_is_read(
    prepare: Prepare, bpe_tok: BPETokenizer, settings: Settings, tmp_path: Path
) -> None:
    prepared = prepare("gpt2", bpe_tok, 32)
    path = tmp_path / "prompt.txt"
    path.write_text(PROMPT, encoding="utf-8")
    cfg = generate_config(prompt_text=PROMPT, max_new_tokens=6)
    from_text = generate(prepared, cfg, settings)
    from_file = generate(prepared, {**cfg, "prompt_text": None, "prompt_path": str(path)}, settings)
    assert from_file == from_text


def test_a_top_k_above_the_vocabulary_keeps_every_token(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("char_lstm", char_tok, 32)
    vocab = char_tok.vocab_size
    cfg = generate_config(prompt_text="a", max_new_tokens=12, seed=3)
    every = generate(prepared, {**cfg, "top_k": vocab}, settings)
    assert generate(prepared, {**cfg, "top_k": vocab + 50}, settings) == every


def test_padding_and_the_unknown_id_are_never_sampled(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    prepared = prepare("fake", char_tok, 64)
    model = prepared["model"]
    assert isinstance(model, FakeLM)
    specials = [char_tok.pad_id, char_tok.unk_id]
    with torch.no_grad():
        model.head.bias[specials] += 50.0  # the model all but insists on them
    cfg = generate_config(prompt_text="a", max_new_tokens=40, seed=0, top_k=len(specials) + 1)
    sequence = generate(prepared, cfg, settings)["sequences"][0]
    assert len(sequence["tokens"]) == 40
    # Padding decodes to "", the unknown id to U+FFFD: neither appears.
    assert "" not in sequence["tokens"]
    assert "\ufffd" not in sequence["text"]
    assert max(sequence["token_probs"]) < 1e-10


def _raises(
    prepared: PreparedLMModel, cfg: GenerateConfig, settings: Settings
) -> ModelTrainerError:
    with pytest.raises(ModelTrainerError) as info:
        generate(prepared, cfg, settings)
    return info.value


def test_bad_input_names_the_field_and_value(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings, tmp_path: Path
) -> None:
    prepared = prepare("fake", char_tok, 16)
    error = _raises(prepared, generate_config(prompt_text=""), settings)
    assert (error.code, error.message) == (
        "INVALID_CONFIG",
        "prompt_text must be a non-empty string, got ''",
    )
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    error = _raises(prepared, generate_config(prompt_path=str(empty)), settings)
    assert error.message == f"prompt_path {str(empty)!r} holds no text"
    error = _raises(prepared, generate_config(prompt_path=str(tmp_path / "nope.txt")), settings)
    assert error.code == "CORPUS_NOT_FOUND"
    assert "prompt_path" in error.message
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"\xff")
    error = _raises(prepared, generate_config(prompt_path=str(latin)), settings)
    assert error.code == "INVALID_CONFIG"
    assert "prompt_path" in error.message
    error = _raises(prepared, {**generate_config(prompt_text="a"), "temperature": 0.0}, settings)
    assert "temperature" in error.message


def test_a_model_of_another_family_is_refused(
    prepare: Prepare, char_tok: CharTokenizer, settings: Settings
) -> None:
    gpt2 = prepare("gpt2", char_tok, 16)
    lstm = prepare("char_lstm", char_tok, 16)
    cfg = generate_config(prompt_text="a")
    for function, prepared in (
        (generate_gpt2, lstm),
        (generate_char_lstm, gpt2),
    ):
        with pytest.raises(ModelTrainerError) as info:
            function(prepared, cfg, settings)
        assert info.value.code == "MODEL_INCOMPATIBLE"


def test_a_family_is_reached_only_through_the_registry(
    prepare: Prepare,
    char_tok: CharTokenizer,
    settings: Settings,
    custom_registry: ModelRegistry,
    calls: list[str],
) -> None:
    prepared = prepare("fake", char_tok, 16)
    cfg = generate_config(prompt_text=PROMPT, max_new_tokens=30, seed=3)
    with pytest.raises(ModelTrainerError) as unknown:
        generate({**prepared, "model_family": "other"}, cfg, settings)
    assert unknown.value.code == "MODEL_NOT_FOUND"
    streamed: list[tuple[int, str, float]] = []
    out = generate(
        {**prepared, "model_family": "rec"},
        cfg,
        settings,
        on_token=lambda index, text, prob: streamed.append((index, text, prob)),
        registry=custom_registry,
    )
    assert calls == ["generate rec"]
    assert out == generate_forward_only(prepared, cfg, settings)
    assert out["sequences"][0]["stop_reason"] == "context_full"
    sequence = out["sequences"][0]
    assert streamed == [
        (0, t, p) for t, p in zip(sequence["tokens"], sequence["token_probs"], strict=True)
    ]
    with pytest.raises(ModelTrainerError) as refused:
        generate({**prepared, "model_family": "mute"}, cfg, settings, registry=custom_registry)
    assert refused.value.code == "MODEL_INCOMPATIBLE"
    assert refused.value.message == (
        "model_family 'mute' does not support generate (supports_generate is False)"
    )
    assert calls == ["generate rec"]

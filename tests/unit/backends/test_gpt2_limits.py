"""GPT-2 sizes are checked against its limits and the memory there is, before allocating."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from model_trainer.core.backends.gpt2 import GPT2_SIZES
from model_trainer.core.backends.gpt2.limits import (
    MAX_POSITIONS,
    check_gpt2_size,
    gpt2_parameters,
    training_memory,
)
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.train_job import start_train
from model_trainer.core.tokenizers.char import CharTokenizer


def test_the_parameter_count_is_the_built_model_s(settings: Settings) -> None:
    tokenizer = CharTokenizer.from_text(builtin_text()[:2000])
    cfg = train_config(model_family="gpt2", model_size="small", max_seq_len=48, device="cpu")
    model = default_registry.get("gpt2").prepare(cfg, settings, tokenizer=tokenizer)["model"]
    built = sum(p.numel() for p in model.parameters())
    expected = gpt2_parameters(GPT2_SIZES["small"], vocab_size=tokenizer.vocab_size, n_positions=48)
    assert built == expected


def test_a_huge_max_seq_len_is_refused_before_allocating(
    tmp_path: Path, settings: Settings
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_text()[:3000], encoding="utf-8")
    cfg = train_config(
        model_family="gpt2",
        model_size="tiny",
        corpus_path=str(corpus),
        max_seq_len=1_000_000,
        device="cpu",
    )
    began = time.monotonic()
    handle = start_train(cfg, settings, run_id="long")
    with pytest.raises(ModelTrainerError) as raised:
        handle.result()
    assert time.monotonic() - began < 30.0
    assert raised.value.code == "INVALID_CONFIG"
    assert raised.value.message == (
        f"max_seq_len must be at most {MAX_POSITIONS} for gpt2 (its n_positions; attention "
        f"memory grows with its square), got 1000000"
    )


def test_a_model_too_large_for_the_memory_is_refused() -> None:
    shape = GPT2_SIZES["gpt2"]
    params = gpt2_parameters(shape, vocab_size=50257, n_positions=1024)
    assert params == 124_439_808  # OpenAI's GPT-2 small
    with pytest.raises(ModelTrainerError) as raised:
        check_gpt2_size(
            shape,
            max_seq_len=1024,
            vocab_size=50257,
            model_size="gpt2",
            memory=(10**9, "host memory"),
        )
    assert raised.value.code == "INVALID_CONFIG"
    assert raised.value.message == (
        "model_size 'gpt2' with max_seq_len=1024 and vocab_size=50257 has 124,439,808 "
        "parameters; training them takes 2.0 GB, over the 1.0 GB host memory"
    )
    for memory in ((params * 16, "host memory"), (None, "host memory")):
        check_gpt2_size(shape, max_seq_len=1024, vocab_size=50257, model_size="gpt2", memory=memory)


def test_the_memory_a_model_trains_in() -> None:
    def free_cuda(device: torch.device) -> tuple[int, int]:
        assert device == torch.device("cuda:1")
        return 123, 456

    assert training_memory("cuda:1", free_cuda=free_cuda) == (123, "free memory of cuda:1")
    host, where = training_memory("cpu")
    assert where == "host memory"
    assert host is not None
    assert host > 10**8
    assert training_memory("mps", sysconf_names={}) == (None, "host memory")

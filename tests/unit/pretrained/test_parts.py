"""The family's smaller parts: a cached model id, the state, the backend's own checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

import model_trainer as mt
from model_trainer.core.backends.hf_causal_lm.backend import hf_causal_lm_backend
from model_trainer.core.backends.hf_causal_lm.lora import require_peft
from model_trainer.core.backends.hf_causal_lm.model import HFCausalLM
from model_trainer.core.backends.hf_causal_lm.tiny import Arch
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.narrow import model_as

COMMIT = "0" * 40


def test_a_model_id_loads_from_the_local_cache_offline(
    checkpoints: dict[Arch, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "hub" / "models--tiny-org--tiny-gpt2"
    shutil.copytree(checkpoints["gpt2"], repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT, encoding="utf-8")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cached = mt.load_model("tiny-org/tiny-gpt2", device="cpu")
    folder = mt.load_model(checkpoints["gpt2"], device="cpu")
    assert cached["tokenizer_id"] == folder["tokenizer_id"]
    fetched = mt.load_model("tiny-org/tiny-gpt2", device="cpu", local_files_only=False)
    assert mt.score(fetched, text="The file") == mt.score(folder, text="The file")


def test_the_state_counts_tokens_and_the_tokenizer_saves_its_json(
    checkpoints: dict[Arch, str], tmp_path: Path
) -> None:
    prepared = mt.load_model(checkpoints["llama"], device="cpu")
    model = model_as(prepared, HFCausalLM)
    assert model.config.model_type == "llama"
    _, state = model.step(torch.tensor([[1, 40, 41]]), None)
    _, state = model.step(torch.tensor([[42]]), state)
    assert state.length == 4
    path = tmp_path / "tokenizer.json"
    prepared["tokenizer"].save(str(path))
    saved = (Path(checkpoints["llama"]) / "tokenizer.json").read_text(encoding="utf-8")
    assert len(path.read_text(encoding="utf-8")) > 1000
    assert '"byte_fallback":true' in path.read_text(encoding="utf-8").replace(" ", "")
    assert '"byte_fallback": true' in saved


def test_the_backend_refuses_another_tokenizer_and_lora_without_peft(
    checkpoints: dict[Arch, str], settings: Settings
) -> None:
    assert hf_causal_lm_backend.name() == "hf_causal_lm"
    cfg = train_config(
        init_from=checkpoints["gpt2"],
        model_family="hf_causal_lm",
        model_size="pretrained",
        tokenizer_kind="pretrained",
        device="cpu",
    )
    other = mt.load_model(checkpoints["llama"], device="cpu")["tokenizer"]
    with pytest.raises(ModelTrainerError) as error:
        hf_causal_lm_backend.prepare(cfg, settings, tokenizer=other)
    assert error.value.code == "MODEL_INCOMPATIBLE"
    assert error.value.message.startswith(
        f"init_from: the tokenizer given ({other.tokenizer_id}) is not the one of "
    )
    require_peft()
    with pytest.raises(ModelTrainerError) as error:
        require_peft(lambda name: None)
    assert error.value.message == (
        "lora_rank > 0 needs the peft package: pip install 'model-trainer[peft]' "
        "(or lora_rank=0 to train every weight)"
    )

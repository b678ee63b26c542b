"""Every bad source ends in a ModelTrainerError with a code and a message saying what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertForMaskedLM, PretrainedConfig

import model_trainer as mt
from model_trainer.core.backends import fake, hf_causal_lm
from model_trainer.core.backends.hf_causal_lm.io import (
    check_fits,
    free_bytes,
    model_context,
    pick_precision,
    save_pretrained_model,
)
from model_trainer.core.backends.hf_causal_lm.tiny import Arch
from model_trainer.core.backends.registry import ModelRegistry, default_registry
from model_trainer.core.config.settings import load_settings
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.tokenizers.io import read_model_tokenizer
from model_trainer.core.tokenizers.pretrained import PretrainedTokenizer


def _refused(source: str, *, offline: bool = True, max_seq_len: int | None = None) -> str:
    with pytest.raises(ModelTrainerError) as error:
        mt.load_model(source, device="cpu", local_files_only=offline, max_seq_len=max_seq_len)
    return f"{error.value.code}: {error.value.message}"


def _copy(checkpoints: dict[Arch, str], tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(checkpoints["gpt2"], folder)
    return folder


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**config, **changes}), encoding="utf-8")


def test_a_folder_without_a_model_or_a_file_is_not_found(tmp_path: Path) -> None:
    assert _refused(str(tmp_path)) == (
        f"MODEL_NOT_FOUND: source: {str(tmp_path)!r} holds no config.json, so it is not a "
        "Hugging Face model folder; give the folder model.save_pretrained wrote"
    )
    file = tmp_path / "weights.txt"
    file.write_text("x", encoding="utf-8")
    assert _refused(str(file)) == (
        f"MODEL_NOT_FOUND: source: {str(file)!r} is a file; give the folder that holds config.json"
    )


def test_a_model_id_not_in_the_cache_is_not_found_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _refused("nobody-here/no-such-model") == (
        "MODEL_NOT_FOUND: source: 'nobody-here/no-such-model' is not a folder and not in the "
        "local Hugging Face cache; download it once with load_model(source, "
        "local_files_only=False), or give the folder it was saved to"
    )
    assert _refused("a/b/c").startswith("MODEL_NOT_FOUND: source: 'a/b/c' is neither a folder")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert _refused("nobody-here/no-such-model", offline=False).startswith(
        "MODEL_NOT_FOUND: source: cannot download 'nobody-here/no-such-model'"
    )
    assert _refused("a/b/c", offline=False).startswith(
        "MODEL_NOT_FOUND: source: cannot download 'a/b/c'"
    )


def test_pickled_weights_and_missing_weights_are_refused(
    checkpoints: dict[Arch, str], tmp_path: Path
) -> None:
    folder = _copy(checkpoints, tmp_path)
    (folder / "model.safetensors").unlink()
    assert _refused(str(folder)) == (
        f"MODEL_NOT_FOUND: weights: {str(folder)!r} holds no *.safetensors weights"
    )
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    assert _refused(str(folder)) == (
        f"MODEL_LOAD_FAILED: weights: {str(folder)!r} holds only pytorch_model.bin, which "
        "would need unpickling; convert them once in a trusted session with "
        "AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder) (it writes "
        "model.safetensors)"
    )
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    assert _refused(str(folder)).startswith(
        f"MODEL_LOAD_FAILED: weights: cannot read {str(folder / 'model.safetensors')!r}"
    )


def test_encoder_only_and_seq2seq_models_are_incompatible(
    checkpoints: dict[Arch, str], tmp_path: Path
) -> None:
    folder = _copy(checkpoints, tmp_path)
    config = BertConfig(vocab_size=320, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    BertForMaskedLM(config).save_pretrained(str(folder))
    assert _refused(str(folder)) == (
        f"MODEL_INCOMPATIBLE: source: {str(folder)!r} is a 'bert' model (BertForMaskedLM "
        "architecture), not a decoder-only causal LM; load a model such as gpt2, Pythia or Llama"
    )
    _edit_config(folder, model_type="bart", architectures=None, is_encoder_decoder=True)
    assert "is a 'bart' model (no architecture)" in _refused(str(folder))


def test_bad_configs_weights_and_tokenizers_fail_to_load(
    checkpoints: dict[Arch, str], tmp_path: Path
) -> None:
    folder = _copy(checkpoints, tmp_path)
    _edit_config(folder, n_embd=64)
    assert _refused(str(folder)).startswith(
        f"MODEL_LOAD_FAILED: source: cannot load the weights of {str(folder)!r}"
    )
    _edit_config(folder, n_embd=32, vocab_size=100)
    assert _refused(str(folder)) == (
        f"MODEL_INCOMPATIBLE: vocab_size: the tokenizer of {str(folder)!r} has 320 ids, the "
        "model only 100"
    )
    _edit_config(folder, vocab_size=320, model_type="nonsense")
    assert _refused(str(folder)).startswith(
        f"MODEL_LOAD_FAILED: source: cannot read the config of {str(folder)!r}"
    )
    _edit_config(folder, model_type="gpt2")
    assert _refused(str(folder), max_seq_len=129) == (
        f"INVALID_CONFIG: max_seq_len must be in [1, 128] for {str(folder)!r}, got 129"
    )
    (folder / "tokenizer.json").write_text("{not json", encoding="utf-8")
    assert _refused(str(folder)).startswith(
        f"TOKENIZER_LOAD_FAILED: tokenizer: cannot load the tokenizer of {str(folder)!r}"
    )
    (folder / "tokenizer.json").unlink()
    assert _refused(str(folder)) == (
        f"TOKENIZER_LOAD_FAILED: tokenizer: {str(folder)!r} holds no tokenizer file "
        "(tokenizer.json, tokenizer.model, vocab.json, vocab.txt); save the model's "
        "tokenizer beside it with tokenizer.save_pretrained(folder)"
    )


class _Tokenizer:
    """A stand-in for a ``transformers`` tokenizer: slow, or without an end-of-text token."""

    def __init__(self, *, fast: bool, backend: Tokenizer) -> None:
        self.is_fast = fast
        self.backend_tokenizer = backend
        self.bos_token_id: int | None = None
        self.eos_token_id: int | None = None
        self.pad_token_id: int | None = None
        self.unk_token_id: int | None = None

    def save_pretrained(self, save_directory: str) -> object:
        return save_directory


def test_a_slow_tokenizer_or_one_without_eos_is_refused(checkpoints: dict[Arch, str]) -> None:
    backend = Tokenizer.from_file(str(Path(checkpoints["gpt2"]) / "tokenizer.json"))
    with pytest.raises(ModelTrainerError) as error:
        PretrainedTokenizer(_Tokenizer(fast=False, backend=backend), "slow-one")
    assert error.value.code == "TOKENIZER_LOAD_FAILED"
    assert error.value.message == (
        "tokenizer: 'slow-one' has a slow tokenizer (_Tokenizer) without character offsets; "
        "save a fast one (tokenizer.json) beside the model, e.g. "
        "AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(folder)"
    )
    with pytest.raises(ModelTrainerError) as error:
        PretrainedTokenizer(_Tokenizer(fast=True, backend=backend), "no-eos")
    assert error.value.message == (
        "tokenizer: 'no-eos' has no eos_token; set one in tokenizer_config.json"
    )
    stand_in = _Tokenizer(fast=True, backend=backend)
    stand_in.eos_token_id = 0
    stand_in.pad_token_id = 5
    tokenizer = PretrainedTokenizer(stand_in, "stand-in")
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id, tokenizer.unk_id) == (
        0,
        0,
        5,
        None,
    )


def test_a_model_bigger_than_free_memory_is_refused_before_it_loads() -> None:
    check_fits(10, 10, source="m", device="cpu", precision="fp32")
    with pytest.raises(ModelTrainerError) as error:
        check_fits(3 << 30, 1 << 30, source="m", device="cuda:0", precision="bf16")
    assert error.value.code == "CUDA_OOM"
    assert error.value.message == (
        "source: 'm' needs about 3.0 GiB in bf16 on cuda:0, 1.0 GiB are free; try "
        "dtype='bf16', another device, or a smaller model"
    )
    with pytest.raises(ModelTrainerError) as error:
        check_fits(2, 1, source="m", device="cpu", precision="fp32")
    assert error.value.code == "MODEL_LOAD_FAILED"
    assert free_bytes("cpu") > 0
    assert free_bytes("cuda:1", gpu_free=lambda device: (device.index or 0, 99)) == 1


def test_precision_context_and_the_family_checks() -> None:
    assert pick_precision("auto", "cuda", bf16_ok=True) == "bf16"
    assert pick_precision("auto", "cuda", bf16_ok=False) == "fp32"
    assert pick_precision("auto", "cpu", bf16_ok=True) == "fp32"
    assert pick_precision("bf16", "cpu", bf16_ok=False) == "bf16"
    assert model_context(PretrainedConfig()) is None


def test_only_the_pretrained_family_saves_and_loads_sources(
    checkpoints: dict[Arch, str], tmp_path: Path
) -> None:
    start = hf_causal_lm.REGISTRATION.get("from_source")
    assert start is not None
    registry = ModelRegistry({"hf_causal_lm": {**fake.REGISTRATION, "from_source": start}})
    with pytest.raises(ModelTrainerError) as error:
        mt.load_model(checkpoints["gpt2"], registry=registry)
    assert error.value.message == (
        "model_family 'fake' cannot load a source from outside the runs folder (its table has "
        "no load_source)"
    )
    prepared = mt.load_model(checkpoints["gpt2"], device="cpu")
    with pytest.raises(ModelTrainerError) as error:
        save_pretrained_model({**prepared, "model": torch.nn.Linear(1, 1)}, str(tmp_path), meta={})
    assert error.value.message == (
        "model: hf_causal_lm saves an HFCausalLM with its pretrained tokenizer, got Linear "
        "and PretrainedTokenizer"
    )


def test_a_model_folder_is_read_with_its_own_pretrained_tokenizer_only(
    checkpoints: dict[Arch, str],
) -> None:
    backend = default_registry.get("hf_causal_lm")
    with pytest.raises(ModelTrainerError) as error:
        backend.load(checkpoints["gpt2"], load_settings(), tokenizer=CharTokenizer.from_text("abc"))
    assert error.value.code == "MODEL_INCOMPATIBLE"
    assert error.value.message == (
        f"tokenizer: hf_causal_lm models read their own pretrained tokenizer, got a char one "
        f"for {checkpoints['gpt2']!r}"
    )
    own = read_model_tokenizer(checkpoints["gpt2"], "pretrained")
    loaded = backend.load(checkpoints["gpt2"], load_settings(), tokenizer=own)
    assert loaded["tokenizer"] is own

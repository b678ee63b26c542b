from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import pytest
import torch
from torch import Tensor
from transformers import AutoModelForCausalLM

from model_trainer.core.backends.char_lstm.backend import CHAR_LSTM_FORMAT
from model_trainer.core.backends.fake.backend import FAKE_FORMAT
from model_trainer.core.backends.gpt2.io import load_gpt2, save_gpt2
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelArtifact, PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle, TokenizerKind
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.tokenizers.io import read_model_tokenizer


class _LogitsOut:
    logits: Tensor


class Family(TypedDict):
    name: str
    prepare: Callable[[str, Settings, TokenizerHandle, TokenizerKind], PreparedLMModel]
    save: Callable[[PreparedLMModel, str], ModelArtifact]
    load: Callable[[str, Settings, TokenizerHandle], PreparedLMModel]
    meta_file: str
    files: tuple[str, ...]


def _prepare_gpt2(
    name: str, settings: Settings, tokenizer: TokenizerHandle, kind: TokenizerKind
) -> PreparedLMModel:
    cfg = train_config(
        model_family=name, model_size="tiny", max_seq_len=16, device="cpu", tokenizer_kind=kind
    )
    return default_registry.get("gpt2").prepare(cfg, settings, tokenizer=tokenizer)


def _prepare_char_lstm(
    name: str, settings: Settings, tokenizer: TokenizerHandle, kind: TokenizerKind
) -> PreparedLMModel:
    cfg = train_config(
        model_family=name, model_size="tiny", max_seq_len=16, device="cpu", tokenizer_kind=kind
    )
    return default_registry.get("char_lstm").prepare(cfg, settings, tokenizer=tokenizer)


def _prepare_fake(
    name: str, settings: Settings, tokenizer: TokenizerHandle, kind: TokenizerKind
) -> PreparedLMModel:
    cfg = train_config(
        model_family=name, model_size="tiny", max_seq_len=16, device="cpu", tokenizer_kind=kind
    )
    return default_registry.get("fake").prepare(cfg, settings, tokenizer=tokenizer)


GPT2: Family = {
    "name": "gpt2",
    "prepare": _prepare_gpt2,
    "save": save_gpt2,
    "load": load_gpt2,
    "meta_file": "model_trainer.json",
    "files": (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "model_trainer.json",
        "tokenizer.json",
    ),
}
CHAR_LSTM: Family = {
    "name": "char_lstm",
    "prepare": _prepare_char_lstm,
    "save": CHAR_LSTM_FORMAT.save,
    "load": CHAR_LSTM_FORMAT.load,
    "meta_file": "config.json",
    "files": ("config.json", "model.safetensors", "tokenizer.json"),
}
FAKE: Family = {
    "name": "fake",
    "prepare": _prepare_fake,
    "save": FAKE_FORMAT.save,
    "load": FAKE_FORMAT.load,
    "meta_file": "config.json",
    "files": ("config.json", "model.safetensors", "tokenizer.json"),
}
FAMILIES = [pytest.param(GPT2, id="gpt2"), pytest.param(CHAR_LSTM, id="char_lstm")]
FAMILIES.append(pytest.param(FAKE, id="fake"))
OWN_META = [pytest.param(CHAR_LSTM, id="char_lstm"), pytest.param(FAKE, id="fake")]


def _saved(
    family: Family, settings: Settings, tokenizer: TokenizerHandle, folder: Path
) -> PreparedLMModel:
    prepared = family["prepare"](family["name"], settings, tokenizer, tokenizer.kind)
    family["save"](prepared, str(folder))
    return prepared


def _logits(prepared: PreparedLMModel, ids: Tensor) -> Tensor:
    with torch.no_grad():
        return prepared["model"].eval()(ids)


def _edit_json(path: Path, changes: dict[str, object]) -> None:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, **changes}), encoding="utf-8")


def _load(family: Family, folder: Path, settings: Settings) -> PreparedLMModel:
    """``family``'s ``load`` of ``folder``, given the folder's own tokenizer, as a job does."""
    tokenizer = read_model_tokenizer(str(folder), "char")
    return family["load"](str(folder), settings, tokenizer)


def _error(
    family: Family, folder: Path, settings: Settings, tokenizer: TokenizerHandle
) -> ModelTrainerError:
    with pytest.raises(ModelTrainerError) as info:
        family["load"](str(folder), settings, tokenizer)
    return info.value


@pytest.mark.parametrize("family", FAMILIES)
def test_save_then_load_gives_the_same_model(
    family: Family,
    settings: Settings,
    tokenizer: CharTokenizer,
    sample_ids: Tensor,
    tmp_path: Path,
) -> None:
    prepared = family["prepare"](family["name"], settings, tokenizer, "char")
    artifact = family["save"](prepared, str(tmp_path / "nested" / "model"))
    folder = tmp_path / "nested" / "model"
    assert artifact == {
        "path": str(folder),
        "model_family": family["name"],
        "model_size": "tiny",
        "tokenizer_path": str(folder / "tokenizer.json"),
    }
    assert tuple(sorted(p.name for p in folder.iterdir())) == family["files"]
    meta = json.loads((folder / family["meta_file"]).read_text(encoding="utf-8"))
    assert {key: meta[key] for key in ("model_family", "model_size", "max_seq_len")} == {
        "model_family": family["name"],
        "model_size": "tiny",
        "max_seq_len": 16,
    }
    assert (meta["tokenizer_id"], meta["tokenizer_kind"]) == (tokenizer.tokenizer_id, "char")

    loaded = _load(family, folder, settings)
    for key in ("model_family", "model_size", "tokenizer_id", "eos_id", "pad_id", "max_seq_len"):
        assert loaded[key] == prepared[key]
    assert loaded["device"] == "cpu"
    assert loaded["tok_for_dataset"] is loaded["tokenizer"]
    assert type(loaded["model"]) is type(prepared["model"])
    expected = _logits(prepared, sample_ids)
    torch.testing.assert_close(_logits(loaded, sample_ids), expected)

    family["save"](loaded, str(tmp_path / "again"))
    reloaded = _load(family, tmp_path / "again", settings)
    torch.testing.assert_close(_logits(reloaded, sample_ids), expected)


def test_gpt2_folder_loads_with_auto_model(
    settings: Settings, tokenizer: CharTokenizer, sample_ids: Tensor, tmp_path: Path
) -> None:
    prepared = _saved(GPT2, settings, tokenizer, tmp_path)
    auto = AutoModelForCausalLM.from_pretrained(str(tmp_path))
    out: _LogitsOut = auto(input_ids=sample_ids)
    torch.testing.assert_close(out.logits, _logits(prepared, sample_ids))


def test_gpt2_round_trip_with_a_bpe_tokenizer(settings: Settings, tmp_path: Path) -> None:
    bpe = BPETokenizer.train("def score(text):\n    return len(text)\n" * 40, 300)
    prepared = _saved(GPT2, settings, bpe, tmp_path)
    loaded = load_gpt2(str(tmp_path), settings, read_model_tokenizer(str(tmp_path), "bpe"))
    assert loaded["tokenizer"].kind == "bpe"
    assert loaded["tokenizer_id"] == bpe.tokenizer_id
    ids = torch.tensor([bpe.encode("def score(text): return")])
    torch.testing.assert_close(_logits(loaded, ids), _logits(prepared, ids))


@pytest.mark.parametrize("family", FAMILIES)
def test_prepare_refuses_a_tokenizer_of_another_kind(
    family: Family, settings: Settings, tokenizer: CharTokenizer
) -> None:
    with pytest.raises(ModelTrainerError) as info:
        family["prepare"](family["name"], settings, tokenizer, "bpe")
    assert info.value.code == "MODEL_INCOMPATIBLE"
    assert "tokenizer_kind is 'bpe'" in info.value.message


@pytest.mark.parametrize(
    ("family", "other"),
    [(GPT2, CHAR_LSTM), (CHAR_LSTM, FAKE), (FAKE, GPT2)],
    ids=["gpt2", "char_lstm", "fake"],
)
def test_save_refuses_a_model_of_another_family(
    family: Family, other: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    prepared = other["prepare"](other["name"], settings, tokenizer, "char")
    with pytest.raises(ModelTrainerError) as info:
        family["save"](prepared, str(tmp_path))
    assert info.value.code == "MODEL_INCOMPATIBLE"
    assert info.value.message.startswith("model: ")
    assert " needs a " in info.value.message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("family", FAMILIES)
def test_missing_folder_or_file_is_not_found(
    family: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    missing = _error(family, tmp_path / "absent", settings, tokenizer)
    assert missing.code == "MODEL_NOT_FOUND"
    assert "absent" in missing.message
    _saved(family, settings, tokenizer, tmp_path / "full")
    for name in ("tokenizer.json", "model.safetensors", family["meta_file"]):
        folder = shutil.copytree(tmp_path / "full", tmp_path / name)
        (folder / name).unlink()
        error = _error(family, folder, settings, tokenizer)
        assert error.code == "MODEL_NOT_FOUND"
        assert f"has no {name}" in error.message


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "case",
    [
        (b"{not json", "is not JSON"),
        (b"\xff\xfe", "is not JSON"),
        (b"[1, 2]", "holds a JSON list, not an object"),
    ],
    ids=["syntax", "not-utf8", "list"],
)
def test_corrupt_metadata_fails_to_load(
    family: Family,
    case: tuple[bytes, str],
    settings: Settings,
    tokenizer: CharTokenizer,
    tmp_path: Path,
) -> None:
    _saved(family, settings, tokenizer, tmp_path)
    content, fragment = case
    (tmp_path / family["meta_file"]).write_bytes(content)
    error = _error(family, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_LOAD_FAILED"
    assert fragment in error.message


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "case",
    [
        ({"model_size": 3}, "model_size must be a string, got 3"),
        ({"tokenizer_id": ""}, "tokenizer_id must be a non-empty string, got ''"),
        ({"max_seq_len": True}, "max_seq_len must be an integer, got True"),
        ({"max_seq_len": 0}, "max_seq_len must be a positive integer, got 0"),
        ({"max_seq_len": "16"}, "max_seq_len must be an integer, got '16'"),
    ],
    ids=["size", "tokenizer-id", "bool", "zero", "string"],
)
def test_bad_metadata_field_fails_to_load(
    family: Family,
    case: tuple[dict[str, object], str],
    settings: Settings,
    tokenizer: CharTokenizer,
    tmp_path: Path,
) -> None:
    changes, fragment = case
    _saved(family, settings, tokenizer, tmp_path)
    _edit_json(tmp_path / family["meta_file"], changes)
    error = _error(family, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_LOAD_FAILED"
    assert fragment in error.message


@pytest.mark.parametrize("family", FAMILIES)
def test_folder_of_another_family_is_incompatible(
    family: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    _saved(family, settings, tokenizer, tmp_path)
    _edit_json(tmp_path / family["meta_file"], {"model_family": "other"})
    error = _error(family, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_INCOMPATIBLE"
    assert f"holds a 'other' model, not {family['name']!r}" in error.message


@pytest.mark.parametrize("family", OWN_META)
@pytest.mark.parametrize(
    "case",
    [
        ({"shape": [32]}, "config.json shape: must hold a JSON object, got list"),
        ({"shape": {"num_layers": 2}}, "config.json shape: "),
        ({"vocab_size": -1}, "vocab_size must be a positive integer, got -1"),
    ],
    ids=["shape-list", "shape-field", "vocab"],
)
def test_bad_shape_fails_to_load(
    family: Family,
    case: tuple[dict[str, object], str],
    settings: Settings,
    tokenizer: CharTokenizer,
    tmp_path: Path,
) -> None:
    changes, fragment = case
    _saved(family, settings, tokenizer, tmp_path)
    _edit_json(tmp_path / "config.json", changes)
    error = _error(family, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_LOAD_FAILED"
    assert fragment in error.message


@pytest.mark.parametrize("family", FAMILIES)
def test_corrupt_weights_fail_to_load(
    family: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    _saved(family, settings, tokenizer, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    error = _error(family, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_LOAD_FAILED"
    assert "model.safetensors" in error.message or "cannot load the model" in error.message


@pytest.mark.parametrize(
    ("family", "other"),
    [(GPT2, GPT2), (CHAR_LSTM, FAKE), (FAKE, CHAR_LSTM)],
    ids=["gpt2-bigger-vocab", "char_lstm-fake-weights", "fake-char_lstm-weights"],
)
def test_weights_of_another_shape_fail_to_load(
    family: Family,
    other: Family,
    settings: Settings,
    tokenizer: CharTokenizer,
    tmp_path: Path,
) -> None:
    _saved(family, settings, tokenizer, tmp_path / "model")
    bigger = CharTokenizer.from_text("".join(chr(code) for code in range(200, 300)))
    _saved(other, settings, bigger, tmp_path / "other")
    (tmp_path / "other" / "model.safetensors").replace(tmp_path / "model" / "model.safetensors")
    error = _error(family, tmp_path / "model", settings, tokenizer)
    assert error.code == "MODEL_LOAD_FAILED"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "is not a valid JSON file"),
        ('{"model_type": "gpt2", "n_embd": "x"}', "n_embd"),
    ],
    ids=["syntax", "field"],
)
def test_corrupt_gpt2_config_fails_to_load(
    text: str, fragment: str, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    _saved(GPT2, settings, tokenizer, tmp_path)
    (tmp_path / "config.json").write_text(text, encoding="utf-8")
    error = _error(GPT2, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_LOAD_FAILED"
    assert fragment in error.message


@pytest.mark.parametrize("family", FAMILIES)
def test_another_tokenizer_is_incompatible(
    family: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    _saved(family, settings, tokenizer, tmp_path)
    other = CharTokenizer.from_text("abc")
    error = _error(family, tmp_path, settings, other)
    assert error.code == "MODEL_INCOMPATIBLE"
    assert (
        f"tokenizer_id: the tokenizer given for {str(tmp_path)!r} has {other.tokenizer_id!r}"
        in (error.message)
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_tokenizer_of_another_kind_is_incompatible(
    family: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    _saved(family, settings, tokenizer, tmp_path)
    _edit_json(tmp_path / family["meta_file"], {"tokenizer_kind": "bpe"})
    error = _error(family, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_INCOMPATIBLE"
    assert "tokenizer_kind: the tokenizer given" in error.message
    assert "has 'char', the model was built for 'bpe'" in error.message


@pytest.mark.parametrize("family", OWN_META)
def test_tokenizer_of_another_vocabulary_size_is_incompatible(
    family: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    _saved(family, settings, tokenizer, tmp_path)
    _edit_json(tmp_path / "config.json", {"vocab_size": tokenizer.vocab_size + 1})
    error = _error(family, tmp_path, settings, tokenizer)
    assert error.code == "MODEL_INCOMPATIBLE"
    assert f"vocab_size: the tokenizer given for {str(tmp_path)!r} has {tokenizer.vocab_size}" in (
        error.message
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_corrupt_tokenizer_keeps_its_own_error(
    family: Family, settings: Settings, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    _saved(family, settings, tokenizer, tmp_path)
    (tmp_path / "tokenizer.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        _load(family, tmp_path, settings)
    assert info.value.code == "TOKENIZER_LOAD_FAILED"

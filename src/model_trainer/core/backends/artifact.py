"""Pieces every model folder shares: its metadata JSON, its weights, its tokenizer check.

A model folder holds the weights (safetensors), a JSON file describing the model
(``ArtifactMeta`` plus family-specific fields) and the tokenizer as ``tokenizer.json``.
Nothing in it is unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from model_trainer.core.contracts.model import (
    LMModelProto,
    ModelArtifact,
    ModelTrainConfig,
    PreparedLMModel,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.contracts.typed_json import parse_typed
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing
from model_trainer.core.tokenizers.io import TOKENIZER_FILE

WEIGHTS_FILE = "model.safetensors"
META_FILE = "config.json"


class ArtifactMeta(TypedDict):
    """What a model folder says about itself, besides the model's own shape."""

    model_family: str
    model_size: str
    max_seq_len: int
    tokenizer_id: str
    tokenizer_kind: str


def artifact_meta(prepared: PreparedLMModel) -> ArtifactMeta:
    """The metadata of ``prepared`` to write beside its weights."""
    return {
        "model_family": prepared["model_family"],
        "model_size": prepared["model_size"],
        "max_seq_len": prepared["max_seq_len"],
        "tokenizer_id": prepared["tokenizer_id"],
        "tokenizer_kind": prepared["tokenizer"].kind,
    }


def prepared_model(
    *,
    model: LMModelProto,
    meta: ArtifactMeta,
    tokenizer: TokenizerHandle,
    device: str,
) -> PreparedLMModel:
    """Bundle ``model`` (already on ``device``) with its tokenizer as a ``PreparedLMModel``."""
    return {
        "model": model,
        "model_family": meta["model_family"],
        "model_size": meta["model_size"],
        "tokenizer": tokenizer,
        "tokenizer_id": tokenizer.tokenizer_id,
        "eos_id": tokenizer.eos_id,
        "pad_id": tokenizer.pad_id,
        "max_seq_len": meta["max_seq_len"],
        "tok_for_dataset": tokenizer,
        "device": device,
    }


def new_meta(cfg: ModelTrainConfig, tokenizer: TokenizerHandle) -> ArtifactMeta:
    """The metadata of a fresh model for ``cfg``; the tokenizer must be of ``cfg``'s kind.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when ``tokenizer.kind`` differs from
            ``cfg["tokenizer_kind"]``.
    """
    if tokenizer.kind != cfg["tokenizer_kind"]:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"tokenizer_kind is {cfg['tokenizer_kind']!r}, but the tokenizer given is "
            f"{tokenizer.kind!r}",
        )
    return {
        "model_family": cfg["model_family"],
        "model_size": cfg["model_size"],
        "max_seq_len": cfg["max_seq_len"],
        "tokenizer_id": tokenizer.tokenizer_id,
        "tokenizer_kind": tokenizer.kind,
    }


def write_artifact(
    prepared: PreparedLMModel, out_dir: str, *, meta_file: str, meta: Mapping[str, object]
) -> ModelArtifact:
    """Write the tokenizer and the JSON ``meta`` into ``out_dir`` (weights are the caller's)."""
    folder = Path(out_dir)
    tokenizer_path = folder / TOKENIZER_FILE
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        prepared["tokenizer"].save(str(tokenizer_path))
        (folder / meta_file).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {
        "path": str(folder),
        "model_family": prepared["model_family"],
        "model_size": prepared["model_size"],
        "tokenizer_path": str(tokenizer_path),
    }


def require_files(artifact_path: str, names: tuple[str, ...]) -> Path:
    """Return the folder ``artifact_path`` after checking it holds ``names``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` naming the folder or the first missing file.
    """
    folder = Path(artifact_path)
    if not folder.is_dir():
        raise ModelTrainerError("MODEL_NOT_FOUND", f"artifact_path: no folder at {artifact_path!r}")
    for name in names:
        if not (folder / name).is_file():
            raise ModelTrainerError(
                "MODEL_NOT_FOUND", f"artifact_path: folder {artifact_path!r} has no {name}"
            )
    return folder


def read_json_object(path: Path) -> dict[str, object]:
    """Read the JSON object in the file at ``path``.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` when the file is not UTF-8 JSON or not an
            object.
    """
    try:
        raw: object = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED", f"{path.name}: file {str(path)!r} is not JSON ({exc})"
        ) from exc
    if not isinstance(raw, dict):
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED",
            f"{path.name}: file {str(path)!r} holds a JSON {type(raw).__name__}, not an object",
        )
    return {str(key): value for key, value in raw.items()}


def json_int(data: Mapping[str, object], key: str, where: str) -> int:
    """The positive integer ``data[key]``; ``where`` names the file in the error.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` when it is missing or not a positive integer.
    """
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED", f"{where}: {key} must be a positive integer, got {value!r}"
        )
    return value


def read_meta(folder: Path, meta_file: str, family: str) -> tuple[dict[str, object], ArtifactMeta]:
    """Read ``meta_file`` of ``folder``: the whole JSON object and its ``ArtifactMeta`` part.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` for a corrupt file or field;
            ``MODEL_INCOMPATIBLE`` when the folder holds another family than ``family``.
    """
    data = read_json_object(folder / meta_file)
    where = f"{meta_file}: file {str(folder / meta_file)!r}"
    meta = parse_typed(data, ArtifactMeta, where=where, code="MODEL_LOAD_FAILED", unknown="ignore")
    for key, value in meta.items():
        if value == "":
            raise ModelTrainerError(
                "MODEL_LOAD_FAILED", f"{where}: {key} must be a non-empty string, got ''"
            )
    if meta["max_seq_len"] < 1:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED",
            f"{where}: max_seq_len must be a positive integer, got {meta['max_seq_len']}",
        )
    if meta["model_family"] != family:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"model_family: folder {str(folder)!r} holds a {meta['model_family']!r} model, "
            f"not {family!r}",
        )
    return data, meta


def check_tokenizer(
    folder: Path, meta: ArtifactMeta, vocab_size: int, tokenizer: TokenizerHandle
) -> None:
    """Refuse ``tokenizer`` for the model in ``folder`` unless the model was built on it.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when its id, kind or vocabulary size
            differs from the model's.
    """
    pairs = (
        ("tokenizer_id", tokenizer.tokenizer_id, meta["tokenizer_id"]),
        ("tokenizer_kind", tokenizer.kind, meta["tokenizer_kind"]),
        ("vocab_size", tokenizer.vocab_size, vocab_size),
    )
    for field, found, expected in pairs:
        if found != expected:
            raise ModelTrainerError(
                "MODEL_INCOMPATIBLE",
                f"{field}: the tokenizer given for {str(folder)!r} has {found!r}, "
                f"the model was built for {expected!r}",
            )


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the weights of ``model`` to the safetensors file ``path``."""
    tensors: dict[str, Tensor] = {
        name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()
    }
    with writing(path, SafetensorError):
        save_file(tensors, str(path))


def load_weights(model: LMModelProto, path: Path) -> None:
    """Read the safetensors file ``path`` into ``model``; every weight must be there.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` for a corrupt file or weights that do not
            fit ``model`` (a name missing, extra or of another shape).
    """
    try:
        tensors = load_file(str(path))
        model.load_state_dict(tensors)  # strict: every name, no extra, same shapes
    except (SafetensorError, RuntimeError) as exc:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED", f"{path.name}: cannot load the weights in {str(path)!r}: {exc}"
        ) from exc

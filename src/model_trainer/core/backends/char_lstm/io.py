"""Save and load a char-LSTM: ``model.safetensors``, ``config.json`` and ``tokenizer.json``."""

from __future__ import annotations

from model_trainer.core.backends.artifact import (
    META_FILE,
    artifact_meta,
    json_int,
    load_module_artifact,
    save_module_artifact,
)
from model_trainer.core.backends.char_lstm import LSTMShape
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelArtifact, PreparedLMModel
from model_trainer.core.errors import ModelTrainerError

FAMILY = "char_lstm"


def save_char_lstm(prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
    """Write ``prepared`` to ``out_dir``: weights, shape and metadata, tokenizer.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when ``prepared`` holds no ``CharLSTM``.
    """
    model = prepared["model"]
    if not isinstance(model, CharLSTM):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"model: save_char_lstm needs a CharLSTM, got {type(model).__name__}",
        )
    meta = {**artifact_meta(prepared), "vocab_size": model.vocab_size, "shape": model.shape}
    return save_module_artifact(prepared, model, out_dir, meta_file=META_FILE, meta=meta)


def _build(raw_shape: dict[str, object], vocab_size: int) -> CharLSTM:
    shape: LSTMShape = {
        "embed_dim": json_int(raw_shape, "embed_dim", META_FILE),
        "hidden_dim": json_int(raw_shape, "hidden_dim", META_FILE),
        "num_layers": json_int(raw_shape, "num_layers", META_FILE),
    }
    return CharLSTM(shape, vocab_size)


def load_char_lstm(artifact_path: str, settings: Settings) -> PreparedLMModel:
    """Read a folder written by ``save_char_lstm``, onto the fastest device present.

    ``settings`` is part of the backend signature; nothing here depends on it.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for a missing folder or file;
            ``MODEL_LOAD_FAILED`` for corrupt JSON or weights; ``MODEL_INCOMPATIBLE`` when
            the tokenizer is not the model's or the folder holds another family.
    """
    del settings
    return load_module_artifact(artifact_path, FAMILY, _build)

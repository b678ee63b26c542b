"""Save and load the fake model: ``model.safetensors``, ``config.json`` and ``tokenizer.json``."""

from __future__ import annotations

from model_trainer.core.backends.artifact import (
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    artifact_meta,
    json_int,
    json_object,
    load_matching_tokenizer,
    load_weights,
    prepared_model,
    read_meta,
    require_files,
    save_module_artifact,
)
from model_trainer.core.backends.fake.model import FakeLM, FakeShape
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelArtifact, PreparedLMModel
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.training.device import available_device

FAMILY = "fake"
META_FILE = "config.json"


def save_fake(prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
    """Write ``prepared`` to ``out_dir``: weights, shape and metadata, tokenizer.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when ``prepared`` holds no ``FakeLM``.
    """
    model = prepared["model"]
    if not isinstance(model, FakeLM):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"model: save_fake needs a FakeLM, got {type(model).__name__}",
        )
    meta = {**artifact_meta(prepared), "vocab_size": model.vocab_size, "shape": model.shape}
    return save_module_artifact(prepared, model, out_dir, meta_file=META_FILE, meta=meta)


def load_fake(artifact_path: str, settings: Settings) -> PreparedLMModel:
    """Read a folder written by ``save_fake``, onto the fastest device present.

    ``settings`` is part of the backend signature; nothing here depends on it.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for a missing folder or file;
            ``MODEL_LOAD_FAILED`` for corrupt JSON or weights; ``MODEL_INCOMPATIBLE`` when
            the tokenizer is not the model's or the folder holds another family.
    """
    del settings
    folder = require_files(artifact_path, (META_FILE, WEIGHTS_FILE, TOKENIZER_FILE))
    data, meta = read_meta(folder, META_FILE, FAMILY)
    raw_shape = json_object(data, "shape", META_FILE)
    shape: FakeShape = {
        "num_layers": json_int(raw_shape, "num_layers", META_FILE),
        "width": json_int(raw_shape, "width", META_FILE),
        "kernel_size": json_int(raw_shape, "kernel_size", META_FILE),
    }
    vocab_size = json_int(data, "vocab_size", META_FILE)
    tokenizer = load_matching_tokenizer(folder, meta, vocab_size)
    model = FakeLM(shape, vocab_size)
    load_weights(model, folder / WEIGHTS_FILE)
    device = available_device("auto")
    return prepared_model(model=model.to(device), meta=meta, tokenizer=tokenizer, device=device)

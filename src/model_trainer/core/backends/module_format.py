"""A family whose model is a ``torch.nn.Module`` built from a shape, in one object.

``ModuleFormat`` gives such a family its ``prepare`` (a fresh model of a config's size),
``save`` and ``load`` (weights in safetensors, the shape and metadata in ``config.json``,
the tokenizer beside them). The fake model and the char-LSTM are such families; so is a
family written in a notebook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Generic, TypeVar

from torch import nn

from model_trainer.core.backends.adapter import family_shape, fresh_model
from model_trainer.core.backends.artifact import (
    META_FILE,
    WEIGHTS_FILE,
    artifact_meta,
    check_tokenizer,
    json_int,
    load_weights,
    prepared_model,
    read_meta,
    require_files,
    save_weights,
    write_artifact,
)
from model_trainer.core.config.settings import Settings
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
from model_trainer.core.training.device import available_device

ShapeT = TypeVar("ShapeT")


class ModuleFormat(Generic[ShapeT]):
    """A family whose model is a ``torch.nn.Module`` built from a shape: build, save, load.

    ``build(shape, vocab_size)`` makes a model: a fresh one of the size a run config names
    (``prepare``), or an empty one to load saved weights into. A model folder holds the
    weights, ``config.json`` (``ArtifactMeta``, the vocabulary size and the model's shape,
    from the family's ``sizes``) and the tokenizer; ``shape_type`` is the TypedDict the
    shape is read back as; a saved model must be a ``model_type``.
    """

    def __init__(
        self,
        family: str,
        *,
        model_type: type[nn.Module],
        shape_type: type[ShapeT],
        sizes: Mapping[str, ShapeT],
        build: Callable[[ShapeT, int], LMModelProto],
    ) -> None:
        self.family = family
        self.model_type = model_type
        self.shape_type = shape_type
        self.sizes = sizes
        self.build = build

    def prepare(
        self, cfg: ModelTrainConfig, settings: Settings, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        """A fresh model of ``cfg``'s size over the tokenizer's vocabulary (the spec's prepare).

        ``settings`` is part of the signature; nothing here depends on it.

        Raises:
            ModelTrainerError: ``INVALID_MODEL_SIZE`` for a size not among ``sizes``.
        """
        del settings
        shape = family_shape(cfg, self.sizes)
        return fresh_model(cfg, tokenizer, lambda: self.build(shape, tokenizer.vocab_size))

    def save(self, prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
        """Write ``prepared`` to ``out_dir``: weights, shape and metadata, tokenizer.

        Raises:
            ModelTrainerError: ``MODEL_INCOMPATIBLE`` when ``prepared`` holds no
                ``model_type``.
        """
        model = prepared["model"]
        if not isinstance(model, self.model_type):
            raise ModelTrainerError(
                "MODEL_INCOMPATIBLE",
                f"model: a {self.family} model folder needs a {self.model_type.__name__}, "
                f"got {type(model).__name__}",
            )
        meta = {
            **artifact_meta(prepared),
            "vocab_size": prepared["tokenizer"].vocab_size,
            "shape": self.sizes[prepared["model_size"]],
        }
        folder = Path(out_dir)
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        save_weights(model, folder / WEIGHTS_FILE)
        return write_artifact(prepared, out_dir, meta_file=META_FILE, meta=meta)

    def load(
        self, artifact_path: str, settings: Settings, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        """Read a folder written by ``save`` onto the fastest device present.

        ``tokenizer`` is the folder's (``read_model_tokenizer``); ``settings`` is part of
        the backend signature, nothing here depends on it.

        Raises:
            ModelTrainerError: ``MODEL_NOT_FOUND`` for a missing folder or file;
                ``MODEL_LOAD_FAILED`` for corrupt JSON, shape or weights;
                ``MODEL_INCOMPATIBLE`` when the tokenizer is not the model's or the folder
                holds another family.
        """
        del settings
        folder = require_files(artifact_path, (META_FILE, WEIGHTS_FILE, TOKENIZER_FILE))
        data, meta = read_meta(folder, META_FILE, self.family)
        shape = parse_typed(
            data.get("shape"), self.shape_type, where=f"{META_FILE} shape", code="MODEL_LOAD_FAILED"
        )
        vocab_size = json_int(data, "vocab_size", META_FILE)
        check_tokenizer(folder, meta, vocab_size, tokenizer)
        model = self.build(shape, vocab_size)
        load_weights(model, folder / WEIGHTS_FILE)
        device = available_device("auto")
        return prepared_model(model=model.to(device), meta=meta, tokenizer=tokenizer, device=device)

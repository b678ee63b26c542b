"""Check that a prepared model is of the class a backend's scoring and sampling expect."""

from __future__ import annotations

from typing import TypeVar

from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.errors import ModelTrainerError

ModelT = TypeVar("ModelT")


def model_as(prepared: PreparedLMModel, kind: type[ModelT]) -> ModelT:
    """``prepared["model"]`` as a ``kind``.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` naming the family and both classes.
    """
    model = prepared["model"]
    if not isinstance(model, kind):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"model_family {prepared['model_family']!r} needs a {kind.__name__} model, "
            f"got {type(model).__name__}",
        )
    return model

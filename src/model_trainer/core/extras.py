"""The optional extras (optuna, pandas, tensorboard): found before use, or a coded error."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def require_extra(module: str, *, extra: str, needed_by: str) -> ModuleType:
    """Import ``module`` of the ``extra`` extra.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` naming ``needed_by`` and the extra to install
            when ``module`` is not installed.
    """
    from model_trainer.core.errors import ModelTrainerError

    if importlib.util.find_spec(module) is None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{needed_by} needs {module}, which is not installed: "
            f"pip install 'model-trainer[{extra}]'",
        )
    return importlib.import_module(module)

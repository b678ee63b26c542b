"""A family as the registry knows it before importing it: its capabilities, where it lives.

This module is light on purpose: each family's ``__init__.py`` uses it to state its sizes
and capabilities without importing its model code, so the registry knows them cheaply; the
module holding the backend is named as a string and imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict

from model_trainer.core.contracts.model import BackendCapabilities
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.errors import ModelTrainerError

Capability = Literal[
    "supports_train",
    "supports_evaluate",
    "supports_score",
    "supports_generate",
    "supports_distributed",
]


class SourceStart(TypedDict):
    """What a model read from a folder brings with it: its one size and its own tokenizer.

    A family with one starts a run from a model folder (``init_from``) and loads any such
    folder (``load_model``, its table's ``load_source``); the run config's ``model_size``
    and ``tokenizer_kind`` are then these.
    """

    model_size: str
    tokenizer_kind: TokenizerKind


class BackendRegistration(TypedDict):
    """Where a family's backend lives, and what it can do without importing it.

    ``backend`` is ``"package.module:name"``: the module defining the family's
    ``create_backend(...)`` under ``name``. ``from_source``: the family's models come from
    a model folder (``SourceStart``).
    """

    backend: str
    capabilities: BackendCapabilities
    from_source: NotRequired[SourceStart]


def family_capabilities(
    sizes: Mapping[str, object],
    *,
    train: bool = True,
    evaluate: bool = True,
    score: bool = True,
    generate: bool = True,
    distributed: bool = True,
) -> BackendCapabilities:
    """The capabilities of a family whose sizes are the keys of ``sizes``."""
    return {
        "supports_train": train,
        "supports_evaluate": evaluate,
        "supports_score": score,
        "supports_generate": generate,
        "supports_distributed": distributed,
        "supported_sizes": tuple(sizes),
    }


def require_capability(
    family: str, capabilities: BackendCapabilities, capability: Capability
) -> None:
    """Refuse what ``family`` cannot do.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` naming the family and the capability.
    """
    if not capabilities[capability]:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"model_family {family!r} does not support {capability.removeprefix('supports_')} "
            f"({capability} is False)",
        )

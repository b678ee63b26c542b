"""The model registry: the only route from a family name to its backend.

Each family's package states its sizes and capabilities without importing its model code,
and names the module of its backend; that module is imported on first ``get``. A family
defined elsewhere (a notebook) is added as a backend with ``add``. ``require`` refuses what
a family cannot do before any work starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Literal

from model_trainer.core.backends import char_lstm, fake, gpt2, hf_causal_lm
from model_trainer.core.backends.family import (
    BackendRegistration,
    Capability,
    SourceStart,
    require_capability,
)
from model_trainer.core.contracts.model import BackendCapabilities, ModelBackend
from model_trainer.core.errors import ModelTrainerError

ModelFamily = Literal["gpt2", "char_lstm", "fake", "hf_causal_lm"]

BUILTIN_BACKENDS: dict[ModelFamily, BackendRegistration] = {
    "gpt2": gpt2.REGISTRATION,
    "char_lstm": char_lstm.REGISTRATION,
    "fake": fake.REGISTRATION,
    "hf_causal_lm": hf_causal_lm.REGISTRATION,
}
"""Built-in families; ``fake`` is a tiny real model (2 layers, 32 wide) for tests and demos."""


class ModelRegistry:
    """Backends by family name; a backend is built on first ``get`` and cached."""

    def __init__(self, registrations: Mapping[str, BackendRegistration]) -> None:
        self._registrations: dict[str, BackendRegistration] = dict(registrations)
        self._cache: dict[str, ModelBackend] = {}

    def names(self) -> tuple[str, ...]:
        """Registered family names, in registration order."""
        return tuple(self._registrations)

    def register(self, name: str, registration: BackendRegistration) -> None:
        """Add a family by where its backend lives; a name already taken is an error."""
        if not name or name in self._registrations:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"model_family {name!r} is empty or already registered; "
                f"registered: {', '.join(self._registrations)}",
            )
        self._registrations[name] = registration

    def add(self, backend: ModelBackend) -> None:
        """Add a built backend (``create_backend(table)``) under its name."""
        name = backend.name()
        self.register(name, {"backend": "", "capabilities": backend.capabilities()})
        self._cache[name] = backend

    def _registration(self, name: str) -> BackendRegistration:
        if name not in self._registrations:
            raise ModelTrainerError(
                "MODEL_NOT_FOUND",
                f"model_family {name!r} is not registered; "
                f"registered: {', '.join(self._registrations)}",
            )
        return self._registrations[name]

    def get(self, name: str) -> ModelBackend:
        """The backend of ``name``, built on first use."""
        registration = self._registration(name)
        if name not in self._cache:
            self._cache[name] = _import_backend(name, registration["backend"])
        return self._cache[name]

    def get_capabilities(self, name: str) -> BackendCapabilities:
        """What ``name`` can do, without building it."""
        return self._registration(name)["capabilities"]

    def require(self, name: str, capability: Capability) -> BackendCapabilities:
        """The capabilities of ``name``, once it is known to have ``capability``.

        Raises:
            ModelTrainerError: ``MODEL_NOT_FOUND`` for an unregistered family,
                ``MODEL_INCOMPATIBLE`` naming the family and the capability it lacks.
        """
        capabilities = self.get_capabilities(name)
        require_capability(name, capabilities, capability)
        return capabilities

    def source_start(self, name: str) -> SourceStart | None:
        """What a model of ``name`` read from a folder brings, or None for a family built fresh.

        Raises:
            ModelTrainerError: ``MODEL_NOT_FOUND`` for an unregistered family.
        """
        return self._registration(name).get("from_source")

    def source_family(self) -> tuple[str, SourceStart]:
        """The first registered family whose models come from a model folder, and its start.

        Raises:
            ModelTrainerError: ``MODEL_NOT_FOUND`` when no registered family has one.
        """
        for name, registration in self._registrations.items():
            start = registration.get("from_source")
            if start is not None:
                return name, start
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            "init_from: no registered family loads a model from a folder; "
            f"registered: {', '.join(self._registrations)}",
        )

    def is_loaded(self, name: str) -> bool:
        """Whether ``name`` has been built."""
        return name in self._cache


def _import_backend(name: str, where: str) -> ModelBackend:
    module, _, attribute = where.partition(":")
    found: object = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(found, ModelBackend):
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"model_family {name!r}: {where!r} names no backend (create_backend(...))",
        )
    return found


_BUILTIN: dict[str, BackendRegistration] = dict(BUILTIN_BACKENDS.items())
default_registry = ModelRegistry(_BUILTIN)

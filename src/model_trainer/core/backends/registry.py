"""The model registry: family name to backend, loaded lazily, capabilities known up front."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, TypedDict

from model_trainer.core.contracts.model import BackendCapabilities, ModelBackend
from model_trainer.core.errors import ModelTrainerError

ModelFamily = Literal["gpt2", "char_lstm", "fake"]

GPT2_SIZES: tuple[str, ...] = ("tiny", "small", "medium", "gpt2")
CHAR_LSTM_SIZES: tuple[str, ...] = ("tiny", "small", "medium", "large")
FAKE_SIZES: tuple[str, ...] = ("tiny",)


class BackendRegistration(TypedDict):
    """How to build a backend, and what it can do without building it."""

    factory: Callable[[], ModelBackend]
    capabilities: BackendCapabilities


def _gpt2() -> ModelBackend:
    from model_trainer.core.backends.gpt2 import gpt2_backend

    return gpt2_backend


def _char_lstm() -> ModelBackend:
    from model_trainer.core.backends.char_lstm import char_lstm_backend

    return char_lstm_backend


def _fake() -> ModelBackend:
    from model_trainer.core.backends.fake import fake_backend

    return fake_backend


def _capabilities(sizes: tuple[str, ...]) -> BackendCapabilities:
    return {
        "supports_train": True,
        "supports_evaluate": True,
        "supports_score": True,
        "supports_generate": True,
        "supports_distributed": True,
        "supported_sizes": sizes,
    }


BUILTIN_BACKENDS: dict[ModelFamily, BackendRegistration] = {
    "gpt2": {"factory": _gpt2, "capabilities": _capabilities(GPT2_SIZES)},
    "char_lstm": {"factory": _char_lstm, "capabilities": _capabilities(CHAR_LSTM_SIZES)},
    "fake": {"factory": _fake, "capabilities": _capabilities(FAKE_SIZES)},
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
        """Add a family; a name already taken is an error."""
        if not name or name in self._registrations:
            raise ModelTrainerError(
                "INVALID_CONFIG",
                f"model_family {name!r} is empty or already registered; "
                f"registered: {', '.join(self._registrations)}",
            )
        self._registrations[name] = registration

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
            self._cache[name] = registration["factory"]()
        return self._cache[name]

    def get_capabilities(self, name: str) -> BackendCapabilities:
        """What ``name`` can do, without building it."""
        return self._registration(name)["capabilities"]

    def is_loaded(self, name: str) -> bool:
        """Whether ``name`` has been built."""
        return name in self._cache


_BUILTIN: dict[str, BackendRegistration] = dict(BUILTIN_BACKENDS.items())
default_registry = ModelRegistry(_BUILTIN)

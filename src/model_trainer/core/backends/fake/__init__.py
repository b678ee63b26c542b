"""The tiny fake family (2 layers, 32 wide) for tests and demos: sizes and capabilities."""

from __future__ import annotations

from typing import TypedDict

from model_trainer.core.backends.family import BackendRegistration, family_capabilities


class FakeShape(TypedDict):
    """Depth, width and kernel size of the fake model."""

    num_layers: int
    width: int
    kernel_size: int


FAKE_SIZES: dict[str, FakeShape] = {
    "tiny": {"num_layers": 2, "width": 32, "kernel_size": 3},
}

CAPABILITIES = family_capabilities(FAKE_SIZES)


REGISTRATION: BackendRegistration = {
    "backend": "model_trainer.core.backends.fake.backend:fake_backend",
    "capabilities": CAPABILITIES,
}

"""The char-LSTM family: its sizes and capabilities, known without importing its model code."""

from __future__ import annotations

from typing import TypedDict

from model_trainer.core.backends.family import BackendRegistration, family_capabilities


class LSTMShape(TypedDict):
    """Embedding width, hidden width and depth of a char-LSTM."""

    embed_dim: int
    hidden_dim: int
    num_layers: int


CHAR_LSTM_SIZES: dict[str, LSTMShape] = {
    "tiny": {"embed_dim": 32, "hidden_dim": 64, "num_layers": 2},
    "small": {"embed_dim": 128, "hidden_dim": 256, "num_layers": 2},
    "medium": {"embed_dim": 256, "hidden_dim": 512, "num_layers": 2},
    "large": {"embed_dim": 512, "hidden_dim": 1024, "num_layers": 3},
}

CAPABILITIES = family_capabilities(CHAR_LSTM_SIZES)


REGISTRATION: BackendRegistration = {
    "backend": "model_trainer.core.backends.char_lstm.backend:char_lstm_backend",
    "capabilities": CAPABILITIES,
}

"""A character-level LSTM language model: embedding, stacked LSTM, linear head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model_trainer.core.backends.char_lstm import LSTMShape

LSTMState = tuple[Tensor, Tensor]
"""Hidden and cell state ``(h, c)``, each ``(num_layers, B, hidden_dim)``."""


class CharLSTM(nn.Module):
    """Embedding, a ``batch_first`` multi-layer ``nn.LSTM`` and a linear head to the vocabulary."""

    def __init__(self, shape: LSTMShape, vocab_size: int) -> None:
        super().__init__()
        self.shape: LSTMShape = {**shape}
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, shape["embed_dim"])
        self.lstm = nn.LSTM(
            shape["embed_dim"],
            shape["hidden_dim"],
            num_layers=shape["num_layers"],
            batch_first=True,
        )
        self.head = nn.Linear(shape["hidden_dim"], vocab_size)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Return the logits ``(B, T, vocab)`` of ``input_ids`` ``(B, T)``.

        The mask is not needed: padding comes after the text, and a causal model never
        reads ahead of a position.
        """
        del attention_mask
        logits, _ = self.step(input_ids, None)
        return logits

    def step(self, input_ids: Tensor, state: LSTMState | None) -> tuple[Tensor, LSTMState]:
        """Read ``input_ids`` ``(B, T)`` after the tokens summed up in ``state``."""
        x = self.embed(input_ids)  # (B, T, E)
        if torch.is_autocast_enabled(x.device.type):
            # Under autocast the LSTM kernel runs in the autocast dtype but is not handed a
            # cast input; give it one (its weights stay fp32 for the optimizer).
            x = x.to(torch.get_autocast_dtype(x.device.type))
        out, (h, c) = self.lstm(x, state)  # (B, T, H)
        logits: Tensor = self.head(out)  # (B, T, V)
        return logits, (h, c)

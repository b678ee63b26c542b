"""A tiny real causal model for tests and notebooks: embeddings and causal convolutions.

It trains on a CPU in about a second and differs from both real families (no attention,
no recurrence), so generic code paths, not family-specific ones, serve it.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional

from model_trainer.core.backends.fake import FakeShape


class FakeLM(nn.Module):
    """Token embeddings, residual causal 1-D convolutions with GELU, a linear head.

    Each position sees itself and the ``num_layers * (kernel_size - 1)`` tokens before it.
    """

    def __init__(self, shape: FakeShape, vocab_size: int) -> None:
        super().__init__()
        self.shape: FakeShape = {**shape}
        self.vocab_size = vocab_size
        width = shape["width"]
        self.embed = nn.Embedding(vocab_size, width)
        self.convs = nn.ModuleList(
            nn.Conv1d(width, width, shape["kernel_size"]) for _ in range(shape["num_layers"])
        )
        self.head = nn.Linear(width, vocab_size)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Return the logits ``(B, T, vocab)`` of ``input_ids`` ``(B, T)``.

        The mask is not needed: padding comes after the text, and a causal model never
        reads ahead of a position.
        """
        del attention_mask
        pad = self.shape["kernel_size"] - 1
        x = self.embed(input_ids).transpose(1, 2)  # (B, C, T)
        for conv in self.convs:
            x = x + functional.gelu(conv(functional.pad(x, (pad, 0))))  # left pad: causal
        logits: Tensor = self.head(x.transpose(1, 2))  # (B, T, V)
        return logits

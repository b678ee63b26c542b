"""Many short texts in one forward pass: right-padded batches and the shared batched forward.

A causal model reads each row left to right, so the logits of a row's real positions do not
depend on the padding after them: a batch of texts padded on the right gives each text the
logits of its own forward pass. Every model reads the batch in its plain forward pass (no
cache is built, as none is read again).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from model_trainer.core.contracts.model import PreparedLMModel


def padded(rows: Sequence[Tensor], pad_id: int) -> Tensor:
    """``rows`` (each (n_i,)) as one (B, max n_i) tensor, padded on the right with ``pad_id``."""
    width = max(row.shape[0] for row in rows)
    batch = torch.full((len(rows), width), pad_id, dtype=torch.long, device=rows[0].device)
    for index, row in enumerate(rows):
        batch[index, : row.shape[0]] = row
    return batch


def forward_batch(prepared: PreparedLMModel, batch: Tensor) -> Tensor:
    """The logits (B, T, V) of ``batch`` (B, T), right-padded, in one forward pass."""
    with torch.inference_mode():
        return prepared["model"](batch)

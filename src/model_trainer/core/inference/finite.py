"""Weights that are not finite are refused before they score or sample.

A model whose weights hold NaN or infinity (a run that diverged, a damaged file) scores
every text as ``nan`` and fails inside sampling; it is named, with a weight that is bad.
"""

from __future__ import annotations

import torch

from model_trainer.core.contracts.model import LMModelProto
from model_trainer.core.errors import ModelTrainerError


def require_finite_weights(model: LMModelProto, name: str) -> None:
    """Refuse ``model`` (called ``name`` in the message) when a weight is NaN or infinite.

    One read-back for the whole model; the names of the bad weights only when there are some.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` naming ``name``, the first bad weight and
            how many there are.
    """
    weights = {key: value for key, value in model.state_dict().items() if value.is_floating_point()}
    finite = torch.stack([value.detach().isfinite().all() for value in weights.values()])
    if bool(finite.all().item()):
        return
    bad = [key for key, ok in zip(weights, finite.tolist(), strict=True) if not ok]
    raise ModelTrainerError(
        "MODEL_LOAD_FAILED",
        f"{name} has NaN or infinite weights ({len(bad)} of {len(weights)} tensors, "
        f"the first {bad[0]!r}), so all it would score, sample or evaluate is NaN; train it "
        f"again (a lower learning_rate, grad_clip), or use the weights of its best checkpoint "
        f"(which='best')",
    )

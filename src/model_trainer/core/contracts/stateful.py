"""Models that continue a sequence from a state instead of reading it all again."""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from torch import Tensor

StateT = TypeVar("StateT")


@runtime_checkable
class StepModel(Protocol[StateT]):
    """A causal model that reads tokens in pieces, carrying a state between them.

    ``step(ids, None)`` reads ``ids`` from the start; ``step(more, state)`` reads the tokens
    that follow. The logits equal those of one full forward pass over all the tokens. The
    state passed in may be advanced in place: continue only from the returned one.
    """

    def step(self, input_ids: Tensor, state: StateT | None) -> tuple[Tensor, StateT]:
        """Return the logits ``(B, T, vocab)`` of ``input_ids`` ``(B, T)`` and the new state."""
        ...

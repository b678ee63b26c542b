"""Sample continuations of a prompt, with a model's state (fast) or by recomputing (naive).

The prompt is encoded after the start id (``prepared["start_id"]``, else the eos id), the
same start-of-text token scoring uses.
``generate_cached`` feeds each new token alone and carries the model's state (a key/value
cache, or an LSTM's hidden state), so each new token costs the same however long the text
is; ``generate_naive`` runs the whole sequence through the model for every new token (the
only way for a forward-only model, and the baseline of the tests and benchmarks).

A model with a context of ``context_len`` positions never sees more than that. A prompt
that would leave too little room is cut from the front to its last
``prompt_budget(context_len, max_new_tokens)`` tokens (the start token goes first) and the
outcome says ``prompt_truncated``: it keeps room for ``max_new_tokens`` new tokens, but
never less than half a context of prompt. When the context is full before
``max_new_tokens``, a sequence ends with stop reason ``context_full``.

Each sequence reports every sampled token, the one that stopped it included (the eos token
as its marker), with the model's probability of it at temperature 1 (see ``sampling.py``).
Its text is the decoded new tokens, without the eos token, cut before the first stop string
found in it. ``num_return_sequences`` sequences are sampled as one batch; the same seed and
the same model give the same texts.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypedDict, TypeVar

import torch
from torch import Tensor

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GeneratedSequence,
    GenerateOutcome,
    LMModelProto,
    PreparedLMModel,
    StopReason,
    TokenCallback,
)
from model_trainer.core.contracts.stateful import StepModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.inference.inputs import prompt_text
from model_trainer.core.inference.sampling import make_generator, sample_next

StateT = TypeVar("StateT")


def prompt_budget(context_len: int, max_new_tokens: int) -> int:
    """How many tokens of the prompt (start token included) a context keeps.

    Room for ``max_new_tokens`` new tokens (the last one is never fed back), but at least
    ``context_len - context_len // 2`` tokens of prompt.
    """
    return max(context_len - max_new_tokens + 1, context_len - context_len // 2)


class FittedPrompt(TypedDict):
    """The token ids fed first, how many of them are the prompt's, whether it was cut."""

    ids: list[int]
    prompt_tokens: int
    truncated: bool


def fit_prompt(
    eos_id: int, prompt_ids: list[int], context_len: int | None, max_new_tokens: int
) -> FittedPrompt:
    """The start token and the prompt, cut from the front to fit ``context_len``."""
    ids = [eos_id, *prompt_ids]
    if context_len is None or len(ids) <= prompt_budget(context_len, max_new_tokens):
        return {"ids": ids, "prompt_tokens": len(prompt_ids), "truncated": False}
    kept = prompt_ids[-prompt_budget(context_len, max_new_tokens) :]
    return {"ids": kept, "prompt_tokens": len(kept), "truncated": True}


class Decoder(Protocol):
    """Next-token logits of a batch: ``start`` with the prompt, then one token at a time."""

    def start(self, ids: Tensor) -> Tensor:
        """Feed the prompt ids (B, P); return the logits (B, V) of the next token."""
        ...

    def advance(self, tokens: Tensor) -> Tensor:
        """Feed one token (B,) per sequence; return the logits (B, V) of the next token."""
        ...


class RecomputeDecoder:
    """Runs the whole sequence so far through a forward-only model for each new token."""

    def __init__(self, model: LMModelProto) -> None:
        self._model = model
        self._ids = torch.zeros(0, 0, dtype=torch.long)

    def start(self, ids: Tensor) -> Tensor:
        """Remember the prompt (B, P) and return the next logits (B, V)."""
        self._ids = ids
        return self._model(ids)[:, -1]

    def advance(self, tokens: Tensor) -> Tensor:
        """Append ``tokens`` (B,) and run the whole sequence again."""
        self._ids = torch.cat([self._ids, tokens[:, None]], dim=1)  # (B, T + 1)
        return self._model(self._ids)[:, -1]


class StateDecoder(Generic[StateT]):
    """Feeds each new token alone, carrying the model's state."""

    def __init__(self, model: StepModel[StateT]) -> None:
        self._model = model
        self._state: StateT | None = None

    def start(self, ids: Tensor) -> Tensor:
        """Run the prompt (B, P) from an empty state and return the next logits (B, V)."""
        logits, self._state = self._model.step(ids, None)  # (B, P, V)
        return logits[:, -1]

    def advance(self, tokens: Tensor) -> Tensor:
        """Feed ``tokens`` (B,) on top of the carried state."""
        logits, self._state = self._model.step(tokens[:, None], self._state)  # (B, 1, V)
        return logits[:, -1]


class _Sequence:
    def __init__(self) -> None:
        self.ids: list[int] = []
        self.probs: list[float] = []
        self.reason: StopReason | None = None
        self.text = ""


def _stop_at(text: str, stops: list[str]) -> int:
    found = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return min(found, default=-1)


class _Recorder:
    def __init__(
        self,
        tokenizer: TokenizerHandle,
        cfg: GenerateConfig,
        eos_id: int,
        on_token: TokenCallback | None,
    ) -> None:
        self.sequences = [_Sequence() for _ in range(cfg["num_return_sequences"])]
        self._tokenizer = tokenizer
        self._stops = cfg["stop_sequences"]
        self._eos_id = eos_id
        self._on_token = on_token

    def add(self, tokens: list[int], probs: list[float]) -> bool:
        """Record one sampled token per running sequence; return whether all have stopped."""
        for index, (seq, token, prob) in enumerate(zip(self.sequences, tokens, probs, strict=True)):
            if seq.reason is not None:
                continue
            seq.ids.append(token)
            seq.probs.append(prob)
            if self._on_token is not None:
                self._on_token(index, self._tokenizer.id_to_text(token), prob)
            if token == self._eos_id:
                seq.reason = "eos"
            elif self._stops:
                text = self._tokenizer.decode(seq.ids)
                cut = _stop_at(text, self._stops)
                if cut >= 0:
                    seq.reason = "stop_sequence"
                    seq.text = text[:cut]
        return all(seq.reason is not None for seq in self.sequences)

    def finish(self, reason: StopReason) -> list[GeneratedSequence]:
        """Give every running sequence ``reason`` and return them all."""
        out: list[GeneratedSequence] = []
        for seq in self.sequences:
            if seq.reason is None:
                seq.reason = reason
            if seq.reason != "stop_sequence":
                ids = seq.ids[:-1] if seq.reason == "eos" else seq.ids
                seq.text = self._tokenizer.decode(ids)
            out.append(
                {
                    "text": seq.text,
                    "stop_reason": seq.reason,
                    "tokens": [self._tokenizer.id_to_text(token) for token in seq.ids],
                    "token_probs": seq.probs,
                }
            )
        return out


def _run(
    decoder: Decoder,
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    context_len: int | None,
    on_token: TokenCallback | None,
) -> GenerateOutcome:
    tokenizer = prepared["tokenizer"]
    prompt = fit_prompt(
        prepared.get("start_id", prepared["eos_id"]),
        tokenizer.encode(prompt_text(cfg, settings)),
        context_len,
        cfg["max_new_tokens"],
    )
    device = prepared["device"]
    batch = torch.tensor([prompt["ids"]] * cfg["num_return_sequences"], device=device)  # (B, P)
    generator = make_generator(cfg["seed"], device)
    recorder = _Recorder(tokenizer, cfg, prepared["eos_id"], on_token)
    # Padding and the unknown-character id are not text: never sample them.
    specials = (tokenizer.pad_id, tokenizer.unk_id)
    banned = sorted({i for i in specials if i is not None and i != prepared["eos_id"]})
    prepared["model"].eval()
    fed = len(prompt["ids"])
    reason: StopReason = "max_new_tokens"
    with torch.inference_mode():
        logits = decoder.start(batch)  # (B, V)
        new_tokens = 0
        while True:
            tokens, probs = sample_next(
                logits,
                generator,
                temperature=cfg["temperature"],
                top_k=cfg["top_k"],
                top_p=cfg["top_p"],
                banned=banned,
            )
            new_tokens += 1
            if recorder.add(tokens.tolist(), probs.tolist()) or new_tokens == cfg["max_new_tokens"]:
                break
            if context_len is not None and fed >= context_len:
                reason = "context_full"
                break
            fed += 1
            logits = decoder.advance(tokens)
    sequences = recorder.finish(reason)
    return {
        "outputs": [seq["text"] for seq in sequences],
        "sequences": sequences,
        "prompt_tokens": prompt["prompt_tokens"],
        "prompt_truncated": prompt["truncated"],
    }


def generate_cached(
    model: StepModel[StateT],
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    context_len: int | None,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample with ``model.step``, its state carried; ``context_len`` None: no limit."""
    return _run(
        StateDecoder(model), prepared, cfg, settings, context_len=context_len, on_token=on_token
    )


def generate_naive(
    model: LMModelProto,
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    context_len: int | None,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample by running the whole sequence through ``model`` for every new token."""
    return _run(
        RecomputeDecoder(model),
        prepared,
        cfg,
        settings,
        context_len=context_len,
        on_token=on_token,
    )

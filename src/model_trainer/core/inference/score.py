"""Score a text: loss, perplexity, bits per character, and per-character surprisal.

What the first token is predicted from: the start id (``prepared["start_id"]``, a pretrained
model's BOS; else the eos id) is prepended as a start-of-text token, so every token of the
text, the first included, is predicted and scored.

A text longer than the context of a forward-only model is scored whole with the sliding
windows of ``windows.py``; a stateful model (``StepModel``) is fed the text in chunks,
its state carried from one chunk to the next, so chunking changes nothing but memory.

Per-character surprisal is each character's own probability under the model's distribution
over strings (``char_detail.py``, ``char_probs.py``): the logits rows of each window or chunk
are handed to the plan as they are made (``on_rows``), and ``beam`` above 1 runs that many
more tokenizations through the same windows or chunks. ``attribution="even_spread"`` shares
each token's surprisal evenly by its characters instead; a character model's characters are
its tokens, so both agree. ``per_word`` adds the row after the last token (``after``), where
the last word's ending is read.

Characters outside a char vocabulary are encoded as ``tokenizer.unk_id``; the model's
surprisal of that id counts like another token's, and ``num_unknown_chars`` says how many
characters it stood for.

Scoring puts the model in eval mode and draws nothing at random: ``ScoreConfig.seed`` has
nothing to seed, and the same text gives the same figures.

Memory does not grow with the text beyond a few numbers a token and a character: a text is
encoded in pieces of about ``ENCODE_CHARS`` characters (cut after a line break between two
characters that are not white space, where byte-level BPE and char tokenizers encode a piece
exactly as they encode it within the whole), the scores of each window or chunk are written
into preallocated arrays, and per-character results are ``CharScores``, arrays read as
``CharScore`` items on demand.

Inside ``scoring_progress(hook)``, scoring on that thread calls ``hook(scored, total)``
(tokens) after each batch of windows or chunk, whatever family's scorer runs: a job shows
how far a long text has got without a change to any family's ``score``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypedDict, TypeVar

import torch
from torch import Tensor

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    LMModelProto,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
)
from model_trainer.core.contracts.stateful import StepModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.contracts.units import perplexity
from model_trainer.core.inference.char_detail import CharPlan, wants_char_probs
from model_trainer.core.inference.char_masses import CharResult
from model_trainer.core.inference.char_scores import CharArrays, CharScores
from model_trainer.core.inference.inputs import check_top_k, score_text
from model_trainer.core.inference.surprisal import (
    TokenScores,
    char_tokens,
    empty_scores,
    log_normalizer,
    put_scores,
    spread_over_chars,
    token_scores,
)
from model_trainer.core.inference.windows import plan_windows, windows_per_batch
from model_trainer.core.inference.words import word_scores

StateT = TypeVar("StateT")
CHUNK_TOKENS = 512  # the fastest of 128 to 16384 on a CPU thread (all within 20%)
ENCODE_CHARS = 1 << 18
LN2 = math.log(2.0)

ProgressHook = Callable[[int, int], None]
"""Told ``(tokens scored, tokens in all)`` as scoring goes."""
_ON_PROGRESS: ContextVar[ProgressHook | None] = ContextVar("score_progress", default=None)


@contextmanager
def scoring_progress(hook: ProgressHook) -> Iterator[None]:
    """Within the block, scoring on this thread tells ``hook`` how far it has got."""
    token = _ON_PROGRESS.set(hook)
    try:
        yield
    finally:
        _ON_PROGRESS.reset(token)


def _progress(scored: int, total: int) -> None:
    hook = _ON_PROGRESS.get()
    if hook is not None:
        hook(scored, total)


RowsHook = Callable[[int, Tensor], Tensor]
"""Told ``(first position, logits (n, V))`` for each window or chunk; returns the rows'
log-normaliser (n, 1), which it reads on the way (the tokens' scores use it)."""


def window_rows(
    model: LMModelProto, ids: Tensor, *, context: int, per_batch: int, after: bool = False
) -> Iterator[tuple[int, Tensor]]:
    """The logits of ``ids[1:]`` given ``ids`` (N + 1,), window by window, in order.

    With ``after``, one more row: the distribution after the last id, read from the last
    ``context`` ids (the windows of the other rows stay as they are).
    """
    inputs = ids[:-1]  # (N,)
    windows = plan_windows(inputs.shape[0], context)
    with torch.inference_mode():
        for first in range(0, len(windows), per_batch):
            group = windows[first : first + per_batch]
            batch = torch.stack([inputs[w["start"] : w["end"]] for w in group])  # (B, C)
            logits = model(batch)  # (B, C, V)
            # A window at a time: its rows are a view, and its passes stay in the cache.
            for j, w in enumerate(group):
                yield w["first_scored"], logits[j, w["first_scored"] - w["start"] :]  # (t, V)
            _progress(group[-1]["end"], inputs.shape[0])
        if after:
            yield inputs.shape[0], model(ids[None, -context:])[0, -1:]  # (1, V)


def windowed_scores(
    model: LMModelProto,
    ids: Tensor,
    *,
    context: int,
    top_k: int | None,
    per_batch: int,
    on_rows: RowsHook | None = None,
    after: bool = False,
) -> TokenScores:
    """Score ``ids[1:]`` given ``ids`` (N + 1,) with sliding windows of ``context`` positions.

    ``on_rows`` is given each window's rows of logits as they are made, with ``after`` also
    the row after the last id.
    """
    targets = ids[1:]  # (N,)
    out = empty_scores(targets.shape[0], top_k)
    rows = window_rows(model, ids, context=context, per_batch=per_batch, after=after)
    for first, scored in rows:
        _score_rows(out, first, scored, targets, top_k=top_k, on_rows=on_rows)
    return out


def _score_rows(
    out: TokenScores,
    first: int,
    scored: Tensor,
    targets: Tensor,
    *,
    top_k: int | None,
    on_rows: RowsHook | None,
) -> None:
    """Put the scores of ``scored`` (t, V), rows ``first ..``, and hand them to ``on_rows``."""
    norm = log_normalizer(scored) if on_rows is None else on_rows(first, scored)  # (t, 1)
    wanted = targets[first : first + scored.shape[0]]  # (t,)
    count = wanted.shape[0]
    put_scores(out, first, token_scores(scored[:count], wanted, top_k, log_norm=norm[:count]))


def stateful_rows(
    model: StepModel[StateT], ids: Tensor, *, chunk_len: int, after: bool = False
) -> Iterator[tuple[int, Tensor]]:
    """The logits of ``ids[1:]`` given ``ids`` (N + 1,), ``chunk_len`` tokens a step.

    With ``after``, one more row: the distribution after the last id.
    """
    inputs = ids if after else ids[:-1]  # (N,) or (N + 1,)
    state: StateT | None = None
    with torch.inference_mode():
        for first in range(0, inputs.shape[0], chunk_len):
            chunk = inputs[None, first : first + chunk_len]  # (1, t)
            logits, state = model.step(chunk, state)  # (1, t, V)
            yield first, logits[0]
            _progress(min(first + chunk_len, inputs.shape[0]), inputs.shape[0])


def stateful_scores(
    model: StepModel[StateT],
    ids: Tensor,
    *,
    chunk_len: int,
    top_k: int | None,
    on_rows: RowsHook | None = None,
    after: bool = False,
) -> TokenScores:
    """Score ``ids[1:]`` given ``ids`` (N + 1,), ``chunk_len`` tokens a step, state carried.

    ``on_rows`` is given each chunk's rows of logits as they are made, with ``after`` also
    the row after the last id.
    """
    targets = ids[1:]  # (N,)
    out = empty_scores(targets.shape[0], top_k)
    for first, scored in stateful_rows(model, ids, chunk_len=chunk_len, after=after):
        _score_rows(out, first, scored, targets, top_k=top_k, on_rows=on_rows)
    return out


def text_pieces(text: str, size: int = ENCODE_CHARS) -> Iterator[tuple[int, int]]:
    """Cut ``text`` into ``[start, end)`` pieces of about ``size`` characters or more.

    A cut lies just after a line break whose neighbours are not white space; a text without
    such a place stays whole.
    """
    start = 0
    while len(text) - start > size:
        cut = text.find("\n", start + size)
        while cut != -1 and not (
            cut + 1 < len(text) and not text[cut - 1].isspace() and not text[cut + 1].isspace()
        ):
            cut = text.find("\n", cut + 1)
        if cut == -1:
            break
        yield start, cut + 1
        start = cut + 1
    yield start, len(text)


class _Encoded(TypedDict):
    text: str
    ids: Tensor  # (T + 1,) the start token, then the text's tokens
    starts: Tensor  # (T,) first character of each token
    ends: Tensor  # (T,) end of each token's characters
    top_k: int | None


def _encode(
    prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings, piece_chars: int
) -> _Encoded:
    tokenizer = prepared["tokenizer"]
    check_top_k(cfg["top_k"], tokenizer.vocab_size)
    text = score_text(cfg, settings)
    # One list per column, each joined and let go in turn: never a (T, 3) table besides.
    ids: list[Tensor] = [torch.tensor([prepared.get("start_id", prepared["eos_id"])])]
    starts: list[Tensor] = []
    ends: list[Tensor] = []
    for start, end in text_pieces(text, piece_chars):
        offsets = torch.tensor(tokenizer.encode_offsets(text[start:end]), dtype=torch.long)
        table = offsets.reshape(-1, 3)  # (t, 3)
        ids.append(table[:, 0].clone())
        starts.append(table[:, 1] + start)
        ends.append(table[:, 2] + start)
    return {
        "text": text,
        "ids": _joined(ids).to(prepared["device"]),
        "starts": _joined(starts),
        "ends": _joined(ends),
        "top_k": cfg["top_k"] if cfg["detail_level"] == "per_char" else None,
    }


def _joined(parts: list[Tensor]) -> Tensor:
    """``parts`` concatenated; the list is emptied, so only the whole is kept."""
    whole = torch.cat(parts)
    parts.clear()
    return whole


def _per_char(
    encoded: _Encoded,
    scores: TokenScores,
    bits: Tensor,
    tokenizer: TokenizerHandle,
    chars: CharResult | None,
) -> CharScores:
    spans = (encoded["starts"], encoded["ends"], len(encoded["text"]))
    if chars is None:
        char_bits, char_token = spread_over_chars(bits, *spans)
    else:  # the characters' own bits: the even spread is not made
        char_bits, char_token = chars["char_bits"], char_tokens(*spans)
    arrays: CharArrays = {
        "char_bits": char_bits,
        "char_token": char_token,
        "token_start": encoded["starts"],
        "rank": scores["rank"],
        "top_ids": scores["top_ids"],
        "top_probs": scores["top_probs"],
    }
    if chars is not None:
        arrays["top_chars"] = chars["top_chars"]
        arrays["top_char_probs"] = chars["top_char_probs"]
    return CharScores(
        encoded["text"],
        arrays,
        name=tokenizer.id_to_text,
        with_top_k=encoded["top_k"] is not None,
    )


def _outcome(
    encoded: _Encoded,
    scores: TokenScores,
    tokenizer: TokenizerHandle,
    per_char: bool,
    *,
    chars: CharResult | None = None,
    plan: CharPlan | None = None,
) -> ScoreOutcome:
    nll = scores["nll"].double()  # (T,)
    total = float(nll.sum())
    num_tokens = nll.shape[0]
    num_chars = len(encoded["text"])
    unknown = 0
    if tokenizer.unk_id is not None:
        widths = encoded["ends"] - encoded["starts"]  # (T,)
        unknown = int(widths[encoded["ids"][1:].cpu() == tokenizer.unk_id].sum())
    loss = total / num_tokens
    out: ScoreOutcome = {
        "loss": loss,
        "perplexity": perplexity(loss),
        "bits_per_char": total / LN2 / num_chars,
        "num_tokens": num_tokens,
        "num_chars": num_chars,
        "num_unknown_chars": unknown,
        "canonical_bits": total / LN2,
    }
    if per_char:
        out["per_char"] = _per_char(encoded, scores, nll / LN2, tokenizer, chars)
    if chars is not None:
        out["char_bits"] = chars["prefix_bits"]
    elif per_char and tokenizer.kind == "char":
        out["char_bits"] = total / LN2
    if chars is not None and plan is not None and plan.after:
        out["per_word"] = word_scores(
            encoded["text"], plan.words, chars["char_bits"], chars["next_chars"], plan.pattern
        )
    return out


def _token_top_k(encoded: _Encoded, plan: CharPlan | None) -> int | None:
    """The tokens' own top-k: none where the characters list what the model expected."""
    return encoded["top_k"] if plan is None else None


def _plan(encoded: _Encoded, cfg: ScoreConfig, tokenizer: TokenizerHandle) -> CharPlan | None:
    if not wants_char_probs(cfg, tokenizer):
        return None
    spans = (encoded["starts"], encoded["ends"])
    return CharPlan(encoded["text"], encoded["ids"], spans, tokenizer, cfg)


def score_windowed(
    model: LMModelProto,
    prepared: PreparedLMModel,
    cfg: ScoreConfig,
    settings: Settings,
    *,
    per_batch: int | None = None,
    piece_chars: int = ENCODE_CHARS,
) -> ScoreOutcome:
    """Score with a forward-only model of context ``prepared["max_seq_len"]``, windowed.

    ``per_batch`` windows go through one forward pass (default: ``windows_per_batch``); the
    text is encoded in pieces of about ``piece_chars`` characters (``text_pieces``).
    """
    encoded = _encode(prepared, cfg, settings, piece_chars)
    prepared["model"].eval()
    tokenizer = prepared["tokenizer"]
    context = prepared["max_seq_len"]
    if per_batch is None:
        accelerator = not prepared["device"].startswith("cpu")
        per_batch = windows_per_batch(context, tokenizer.vocab_size, accelerator=accelerator)
    plan = _plan(encoded, cfg, tokenizer)
    scores = windowed_scores(
        model,
        encoded["ids"],
        context=context,
        top_k=_token_top_k(encoded, plan),
        per_batch=per_batch,
        on_rows=None if plan is None else plan.rows,
        after=plan is not None and plan.after,
    )
    chars = None
    if plan is not None:
        ids_of = plan.path_ids

        def run(path: list[int]) -> Iterator[tuple[int, Tensor]]:
            return window_rows(model, ids_of(path), context=context, per_batch=per_batch)

        chars = plan.result(scores["nll"], run)
    return _outcome(
        encoded, scores, tokenizer, cfg["detail_level"] == "per_char", chars=chars, plan=plan
    )


def score_stateful(
    model: StepModel[StateT],
    prepared: PreparedLMModel,
    cfg: ScoreConfig,
    settings: Settings,
    *,
    chunk_len: int = CHUNK_TOKENS,
    piece_chars: int = ENCODE_CHARS,
) -> ScoreOutcome:
    """Score with a stateful model, ``chunk_len`` tokens a step, its state carried over.

    The text is encoded in pieces of about ``piece_chars`` characters (``text_pieces``).
    """
    encoded = _encode(prepared, cfg, settings, piece_chars)
    prepared["model"].eval()
    tokenizer = prepared["tokenizer"]
    plan = _plan(encoded, cfg, tokenizer)
    scores = stateful_scores(
        model,
        encoded["ids"],
        chunk_len=chunk_len,
        top_k=_token_top_k(encoded, plan),
        on_rows=None if plan is None else plan.rows,
        after=plan is not None and plan.after,
    )
    chars = None
    if plan is not None:
        ids_of = plan.path_ids

        def run(path: list[int]) -> Iterator[tuple[int, Tensor]]:
            return stateful_rows(model, ids_of(path), chunk_len=chunk_len)

        chars = plan.result(scores["nll"], run)
    return _outcome(
        encoded, scores, tokenizer, cfg["detail_level"] == "per_char", chars=chars, plan=plan
    )


EncodedText = _Encoded
"""A text read and tokenized for scoring: the start id and its tokens, their spans."""


def encode_text(prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings) -> EncodedText:
    """``cfg``'s text tokenized as ``score_windowed`` and ``score_stateful`` read it.

    The model is left as it is: put it in eval mode before its forward pass.
    """
    return _encode(prepared, cfg, settings, ENCODE_CHARS)


def score_rows(
    prepared: PreparedLMModel, cfg: ScoreConfig, encoded: EncodedText, logits: Tensor
) -> ScoreOutcome:
    """Score an encoded text from the logits of one forward pass over all its ids.

    ``logits`` (T + 1, V): row ``t`` is the distribution after ``encoded["ids"][: t + 1]``,
    the last row the one after the whole text (read for words). The outcome is
    ``score_windowed``'s for a text within the context; a ``beam`` above 1 reads its other
    tokenizations with a forward-only model.
    """
    tokenizer = prepared["tokenizer"]
    targets = encoded["ids"][1:]  # (T,)
    count = targets.shape[0]
    scores = empty_scores(count, encoded["top_k"])
    put_scores(scores, 0, token_scores(logits[:count], targets, encoded["top_k"]))
    plan = _plan(encoded, cfg, tokenizer)
    chars = None
    if plan is not None:
        plan.rows(0, logits if plan.after else logits[:count])
        ids_of, context = plan.path_ids, prepared["max_seq_len"]
        chars = plan.result(
            scores["nll"],
            lambda path: window_rows(prepared["model"], ids_of(path), context=context, per_batch=1),
        )
    per_char = cfg["detail_level"] == "per_char"
    return _outcome(encoded, scores, tokenizer, per_char, chars=chars, plan=plan)

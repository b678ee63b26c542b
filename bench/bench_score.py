"""Per-character scoring of 100,000 characters against the forward pass that yields its losses.

Ours is ``score`` with ``detail_level="per_char"``: encoding with offsets, the forward passes,
ranks, and one record per character. The baseline is the plain loop that computes the same
per-token losses: encode, the same windows (GPT-2, context 512, half-context stride) or
the same chunks with the state carried (char-LSTM), a batched forward pass and
``cross_entropy(reduction="none")``. The two mean losses are checked to agree.

Then character probabilities against the even spread, the per-character scoring they replace,
for GPT-2 over a byte-level BPE of ``BPE_VOCAB`` ids (GPT-2's size): the default ``beam=1``
(target 0.8) and ``beam=4`` (quoted, no target); ``--char-probs-only`` measures just these.
``bench_pretrained.py`` prints the same two for a pretrained model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional

import common
import harness
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.backends.dispatch import score
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.contracts.defaults import score_config
from model_trainer.core.contracts.model import PreparedLMModel, ScoreConfig
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.inference.score import CHUNK_TOKENS
from model_trainer.core.inference.windows import plan_windows, windows_per_batch
from model_trainer.core.tokenizers.bpe import BPETokenizer

TARGET = 0.9
CHARS = 100_000
QUICK_CHARS = 2_000
CONTEXT = 512
QUICK_CONTEXT = 64
TEXT_START = 100_000
LOSS_TOLERANCE = 1e-4
CHAR_PROB_TARGET = 0.8
WIDE_BEAM = 4
BPE_VOCAB = 50257
QUICK_BPE_VOCAB = 512
BPE_TRAIN_CHARS = 2_000_000


def window_losses(prepared: PreparedLMModel, text: str) -> Tensor:
    """Per-token losses (N,) of ``text`` from batches of sliding windows."""
    model = prepared["model"]
    context = prepared["max_seq_len"]
    ids = torch.tensor([prepared["eos_id"], *prepared["tokenizer"].encode(text)])  # (N + 1,)
    inputs, targets = ids[:-1], ids[1:]  # (N,), (N,)
    windows = plan_windows(inputs.shape[0], context)
    per_batch = windows_per_batch(context, prepared["tokenizer"].vocab_size, accelerator=False)
    losses: list[Tensor] = []
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(windows), per_batch):
            group = windows[first : first + per_batch]
            batch = torch.stack([inputs[w["start"] : w["end"]] for w in group])  # (B, C)
            wanted = torch.stack([targets[w["start"] : w["end"]] for w in group])  # (B, C)
            nll = functional.cross_entropy(
                model(batch).transpose(1, 2), wanted, reduction="none"
            )  # (B, C)
            losses.extend(nll[j, w["first_scored"] - w["start"] :] for j, w in enumerate(group))
    return torch.cat(losses)


def chunk_losses(prepared: PreparedLMModel, model: CharLSTM, text: str) -> Tensor:
    """Per-token losses (N,) of ``text`` read in chunks, the LSTM's state carried."""
    ids = torch.tensor([prepared["eos_id"], *prepared["tokenizer"].encode(text)])  # (N + 1,)
    inputs, targets = ids[:-1], ids[1:]  # (N,), (N,)
    losses: list[Tensor] = []
    state: tuple[Tensor, Tensor] | None = None
    model.eval()
    with torch.inference_mode():
        for first in range(0, inputs.shape[0], CHUNK_TOKENS):
            logits, state = model.step(inputs[None, first : first + CHUNK_TOKENS], state)
            wanted = targets[first : first + CHUNK_TOKENS]  # (t,)
            losses.append(functional.cross_entropy(logits[0], wanted, reduction="none"))
    return torch.cat(losses)


def check_same_loss(prepared: PreparedLMModel, cfg: ScoreConfig, losses: Tensor) -> None:
    """Raise unless our mean loss equals the plain loop's."""
    ours_loss = score(prepared, cfg, common.settings())["loss"]
    plain_loss = losses.mean().item()
    if not math.isclose(ours_loss, plain_loss, abs_tol=LOSS_TOLERANCE):
        raise RuntimeError(f"losses differ: ours {ours_loss}, plain {plain_loss}")


def compare(
    opts: harness.Options,
    label: str,
    prepared: PreparedLMModel,
    cfg: ScoreConfig,
    plain: Callable[[], Tensor],
) -> None:
    settings = common.settings()
    check_same_loss(prepared, cfg, plain())

    def ours() -> float:
        return harness.rate(lambda: len(score(prepared, cfg, settings)["per_char"]))

    def baseline() -> float:
        return harness.rate(lambda: plain().shape[0])

    harness.maybe_profile(opts, f"{label} ours", ours)
    harness.maybe_profile(opts, f"{label} plain", baseline)
    mine, base = harness.alternate(ours, baseline, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"score_per_char_{label}_vs_plain_forward",
            mine,
            base,
            unit="chars/s",
            target=TARGET,
        )
    )


def char_probability_figures(
    opts: harness.Options, label: str, prepared: PreparedLMModel, text: str, unit: str
) -> None:
    """Character probabilities (beam 1, then ``WIDE_BEAM``) against the even spread."""
    settings = common.settings()
    even = score_config(text=text, detail_level="per_char", attribution="even_spread")

    def spread() -> float:
        return harness.rate(lambda: score(prepared, even, settings)["num_tokens"])

    for beam, target in ((1, CHAR_PROB_TARGET), (WIDE_BEAM, 0.0)):
        cfg = score_config(text=text, detail_level="per_char", beam=beam)

        def ours(cfg: ScoreConfig = cfg) -> float:
            return harness.rate(lambda: score(prepared, cfg, settings)["num_tokens"])

        harness.maybe_profile(opts, f"{label} beam {beam}", ours)
        mine, base = harness.alternate(ours, spread, rounds=opts["rounds"])
        harness.emit(
            harness.figure(
                f"{label}_char_probability_beam{beam}_vs_even_spread",
                mine,
                base,
                unit=unit,
                target=target,
            )
        )


def bpe_gpt2(quick: bool, context: int) -> PreparedLMModel:
    """GPT-2 of the bench's size over a byte-level BPE trained on the builtin corpus."""
    vocab = QUICK_BPE_VOCAB if quick else BPE_VOCAB
    tokenizer = BPETokenizer.train(builtin_text()[:BPE_TRAIN_CHARS], vocab)
    cfg = common.config("gpt2", common.gpt2_shape(quick), max_seq_len=context)
    cfg["tokenizer_kind"] = "bpe"
    cfg["vocab_size"] = tokenizer.vocab_size
    return default_registry.get("gpt2").prepare(cfg, common.settings(), tokenizer=tokenizer)


def main() -> None:
    parser = harness.make_parser(__doc__ or "")
    parser.add_argument(
        "--char-probs-only",
        action="store_true",
        help="only character probabilities against the even spread (beam 1 and 4)",
    )
    args = parser.parse_args()
    opts = harness.start(args)
    only: bool = args.char_probs_only
    chars = QUICK_CHARS if opts["quick"] else CHARS
    text = builtin_text()[TEXT_START : TEXT_START + chars]
    context = QUICK_CONTEXT if opts["quick"] else CONTEXT
    if not only:
        plain_figures(opts, text, context)
    bpe = bpe_gpt2(opts["quick"], context)
    char_probability_figures(
        opts, f"{chars}_chars_gpt2_{bpe['model_size']}_bpe_ctx{context}", bpe, text, "tokens/s"
    )


def plain_figures(opts: harness.Options, text: str, context: int) -> None:
    """Per-character scoring against the plain forward pass, GPT-2 and the char-LSTM."""
    chars = len(text)
    cfg: ScoreConfig = score_config(text=text, detail_level="per_char")
    gpt2 = common.prepared("gpt2", common.gpt2_shape(opts["quick"]), max_seq_len=context)
    lstm = common.prepared("char_lstm", common.lstm_shape(opts["quick"]))
    lstm_model = lstm["model"]
    if not isinstance(lstm_model, CharLSTM):
        raise TypeError(f"expected a CharLSTM, got {type(lstm_model).__name__}")
    compare(
        opts,
        f"{chars}_chars_gpt2_{gpt2['model_size']}_ctx{context}",
        gpt2,
        cfg,
        lambda: window_losses(gpt2, text),
    )
    compare(
        opts,
        f"{chars}_chars_char_lstm_{lstm['model_size']}",
        lstm,
        cfg,
        lambda: chunk_losses(lstm, lstm_model, text),
    )


if __name__ == "__main__":
    main()

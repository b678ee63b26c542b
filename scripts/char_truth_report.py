"""Character probabilities against the even spread, on one passage: the figures to quote.

``python scripts/char_truth_report.py [--steps 200] [--chars 2000] [--top 15]`` briefly trains
GPT-2 ``small`` over a byte-level BPE and a char-LSTM ``small`` on the builtin corpus (in a
temporary runs folder), scores a passage of its held-out tail with both, and prints:

- the characters where GPT-2's even spread (each token's surprisal shared by its characters)
  and its character probabilities (each character's own) differ most, with their context;
- each model's mean bits per character by either attribution (the char-LSTM's agree: its
  tokens are its characters), and how closely the two models agree character by character,
  before (the even spread) and after (character probabilities).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence

import torch

import model_trainer as mt
from model_trainer.core.contracts.model import CharScore
from model_trainer.core.data.corpus import builtin_text

BPE_VOCAB = 2048
CONTEXT = 128
BATCH = 16
CONTEXT_CHARS = 24


def _bits(scores: Sequence[CharScore]) -> torch.Tensor:
    return torch.tensor([score["surprisal_bits"] for score in scores], dtype=torch.float64)


def _shown(text: str) -> str:
    return text.replace("\n", "\u21b5")


def _agreement(a: torch.Tensor, b: torch.Tensor) -> str:
    pair = torch.stack([a, b])
    correlation = float(torch.corrcoef(pair)[0, 1])
    return f"correlation {correlation:.3f}, mean |difference| {float((a - b).abs().mean()):.3f}"


def main() -> None:
    """Train both models briefly, score the passage, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="training steps of each model")
    parser.add_argument("--chars", type=int, default=2000, help="characters of the passage")
    parser.add_argument("--top", type=int, default=15, help="largest differences listed")
    args = parser.parse_args()
    steps: int = args.steps
    chars: int = args.chars
    top: int = args.top
    torch.set_num_threads(1)
    passage = builtin_text()[-chars:]
    with tempfile.TemporaryDirectory() as runs:
        gpt = mt.train(
            model_family="gpt2",
            model_size="small",
            tokenizer_kind="bpe",
            vocab_size=BPE_VOCAB,
            learning_rate=3e-3,
            num_epochs=1,
            max_steps_per_epoch=steps,
            max_seq_len=CONTEXT,
            batch_size=BATCH,
            device="cpu",
            runs_dir=runs,
            show=False,
        )
        lstm = mt.train(
            model_family="char_lstm",
            model_size="small",
            learning_rate=1e-2,
            num_epochs=1,
            max_steps_per_epoch=steps,
            max_seq_len=CONTEXT,
            batch_size=BATCH,
            device="cpu",
            runs_dir=runs,
            show=False,
        )
        scored = {
            (name, attribution): mt.score(
                job, text=passage, detail_level="per_char", attribution=attribution
            )
            for name, job in (("gpt2", gpt), ("char_lstm", lstm))
            for attribution in ("even_spread", "char_probability")
        }
    even = _bits(scored["gpt2", "even_spread"]["per_char"])
    own = _bits(scored["gpt2", "char_probability"]["per_char"])
    print(
        f"GPT-2 small over a byte-level BPE of {BPE_VOCAB} ids and a char-LSTM small, "
        f"{steps} steps each; a held-out passage of {len(passage):,} characters\n"
    )
    print("Largest differences, GPT-2 (bits): the even spread against the character's own")
    print(f"  {'char':<6} {'context':<{CONTEXT_CHARS + 4}} {'even':>7} {'own':>7} {'own-even':>9}")
    for i in (own - even).abs().argsort(descending=True)[:top].tolist():
        context = _shown(passage[max(0, i - CONTEXT_CHARS) : i]) + "[" + _shown(passage[i]) + "]"
        print(
            f"  {_shown(passage[i])!r:<6} {context:<{CONTEXT_CHARS + 4}} {float(even[i]):7.3f} "
            f"{float(own[i]):7.3f} {float(own[i] - even[i]):+9.3f}"
        )
    print(f"\n{'mean bits per character':<28} {'even spread':>12} {'char probs':>12}")
    for name in ("char_lstm", "gpt2"):
        row = [
            _bits(scored[name, a]["per_char"]).mean() for a in ("even_spread", "char_probability")
        ]
        print(f"  {name:<26} {float(row[0]):12.4f} {float(row[1]):12.4f}")
    lstm_bits = _bits(scored["char_lstm", "char_probability"]["per_char"])
    print("\nchar-LSTM against GPT-2, character by character:")
    print(f"  before (GPT-2's even spread):      {_agreement(lstm_bits, even)}")
    print(f"  after (GPT-2's own probabilities): {_agreement(lstm_bits, own)}")


if __name__ == "__main__":
    main()

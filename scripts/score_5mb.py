"""Peak memory and time of per-character top-5 scoring of a 5 MB text by a tiny model.

``python scripts/score_5mb.py prepare DIR`` trains the tiny char-LSTM run ``tiny`` in
``DIR/runs`` and writes the 5 MB text ``DIR/text.txt`` (the builtin corpus, repeated);
``/usr/bin/time -v python scripts/score_5mb.py score DIR`` scores it, per character with the
top 5 expected characters, and prints the figures of the outcome (the peak memory and the
time are ``time``'s). With ``bpe`` after ``DIR`` both steps use the tiny GPT-2 run
``tiny-bpe`` over a byte-level BPE instead, whose characters get their own probabilities.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.contracts.defaults import score_config, train_config
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.jobs.score_job import start_score
from model_trainer.core.jobs.train_job import start_train

TEXT_BYTES = 5_000_000


BPE_VOCAB = 2048


def prepare(folder: Path, bpe: bool) -> None:
    """Train the tiny run and write the text."""
    settings = with_overrides(load_settings(), runs_dir=str(folder / "runs"))
    cfg = train_config(
        model_family="gpt2" if bpe else "char_lstm",
        model_size="tiny",
        num_epochs=1,
        max_steps_per_epoch=20,
        device="cpu",
        **({"tokenizer_kind": "bpe", "vocab_size": BPE_VOCAB} if bpe else {}),
    )
    start_train(cfg, settings, run_id=_run_id(bpe)).result()
    text = builtin_text()
    long = (text * (TEXT_BYTES // len(text) + 1)).encode("utf-8")[:TEXT_BYTES]
    (folder / "text.txt").write_bytes(long.decode("utf-8", "ignore").encode("utf-8"))


def _run_id(bpe: bool) -> str:
    return "tiny-bpe" if bpe else "tiny"


def score(folder: Path, bpe: bool) -> None:
    """Score the text per character with the top 5, and print what came out."""
    settings = with_overrides(load_settings(), runs_dir=str(folder / "runs"))
    cfg = score_config(path=str(folder / "text.txt"), detail_level="per_char", top_k=5)
    began = time.monotonic()
    outcome = start_score(_run_id(bpe), cfg, settings).result()
    per_char = outcome.get("per_char", [])
    last = per_char[len(per_char) - 1]
    print(
        f"{outcome['num_chars']:,} chars, {outcome['bits_per_char']:.3f} bits/char, "
        f"{len(per_char):,} per-char scores (last {last['char']!r}, top {len(last['top_k'])}) "
        f"in {time.monotonic() - began:.1f} s"
    )


if __name__ == "__main__":
    {"prepare": prepare, "score": score}[sys.argv[1]](Path(sys.argv[2]), sys.argv[3:] == ["bpe"])

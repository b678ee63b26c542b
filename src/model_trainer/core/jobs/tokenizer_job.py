"""The tokenizer job: a char or BPE tokenizer trained on a corpus and saved, on a thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.tokenizer import TokenizerKind
from model_trainer.core.contracts.validators import check_vocab_size
from model_trainer.core.data.corpus import load_corpus
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.jobs.runner import JobControl, JobHandle, new_job_id
from model_trainer.core.tokenizers.io import train_tokenizer


class TokenizerOutcome(TypedDict):
    """A trained tokenizer file and what it holds."""

    path: str
    kind: TokenizerKind
    vocab_size: int
    tokenizer_id: str
    corpus_chars: int


def start_tokenizer(
    *,
    corpus_path: str,
    kind: TokenizerKind,
    vocab_size: int,
    out_path: str,
    settings: Settings,
    sinks: Sequence[EventSink] = (),
) -> JobHandle[TokenizerOutcome]:
    """Start training a tokenizer on the corpus at ``corpus_path``, saved to ``out_path``.

    A char tokenizer's vocabulary is the corpus's characters, so ``vocab_size`` only
    applies to ``bpe``. The job belongs to no run: its handle's ``run_id`` and ``run_dir``
    are empty.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when ``out_path`` is empty or ``vocab_size``
            is out of its range. Corpus and training failures are the job's: its
            ``result()`` raises them.
    """
    if not out_path:
        raise ModelTrainerError("INVALID_CONFIG", f"out_path must be a file path, got {out_path!r}")
    check_vocab_size(vocab_size)

    def work(_control: JobControl) -> TokenizerOutcome:
        text = load_corpus(corpus_path, settings)
        tokenizer = train_tokenizer(kind, text, vocab_size)
        tokenizer.save(out_path)
        return {
            "path": out_path,
            "kind": tokenizer.kind,
            "vocab_size": tokenizer.vocab_size,
            "tokenizer_id": tokenizer.tokenizer_id,
            "corpus_chars": len(text),
        }

    handle: JobHandle[TokenizerOutcome] = JobHandle(
        kind="tokenizer",
        job_id=new_job_id("tokenizer"),
        run_id="",
        run_dir="",
        work=work,
        sinks=sinks,
        result_id=lambda outcome: outcome["path"],
    )
    return handle.start()

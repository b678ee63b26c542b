"""Corpus scoring: many short sentences scored by ``score_corpus`` to the documents table.

10,000 sentences of about 60 characters, cut from the builtin corpus, scored by GPT-2
``small`` (built from its config, trained one step) and by a pretrained-shape model (a tiny
GPT-2 checkpoint saved to a folder and loaded with ``load_model``). The figures, in
documents per second:

- ``score_corpus`` against a plain batched Hugging Face forward computing the same token
  log-probabilities (tokenize, sort by length, pad under the same token budget, one forward
  a batch, log-softmax and gather): target 0.8;
- ``score_corpus`` against a loop of ``score`` over the same documents (a reference: batching
  is the point).

``--large-mb M`` instead writes a corpus of M MB (a JSON line a sentence) and scores it by
GPT-2 ``small`` to the documents table only, printing its documents per second and this
process's peak RSS against 1.5 GiB (ratio: the budget over the peak; ``/usr/bin/time -v``
gives the same peak from outside).
``--docs N`` sets the number of sentences.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional

import harness
from model_trainer import api
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.backends.hf_causal_lm.model import HFCausalLM
from model_trainer.core.backends.hf_causal_lm.tiny import save_tiny_checkpoint
from model_trainer.core.contracts.corpus import CORPUS_DEFAULTS
from model_trainer.core.contracts.model import PreparedLMModel
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.inference.narrow import model_as
from model_trainer.corpus_api import score_corpus

TARGET = 0.8
SENTENCE_CHARS = 60
DOCS = 10_000
QUICK_DOCS = 200
LOOP_DOCS = 1_000
BUDGET_MIB = 1536.0


def sentences(count: int) -> list[str]:
    """``count`` pieces of the builtin corpus of about ``SENTENCE_CHARS`` characters each."""
    words = builtin_text().split()
    out: list[str] = []
    current: list[str] = []
    index = 0
    while len(out) < count:
        current.append(words[index % len(words)])
        index += 1
        if sum(len(word) + 1 for word in current) >= SENTENCE_CHARS:
            out.append(" ".join(current))
            current = []
    return out


def plain_batched(model: nn.Module, prepared: PreparedLMModel, docs: list[str]) -> int:
    """Token log-probs of every document by plain batched forwards; returns the documents."""
    tokenizer = prepared["tokenizer"]
    start = prepared.get("start_id", prepared["eos_id"])
    rows = [torch.tensor([start, *tokenizer.encode(doc)]) for doc in docs]
    order = sorted(range(len(rows)), key=lambda index: -rows[index].shape[0])
    budget = CORPUS_DEFAULTS["batch_tokens"]
    totals = [0.0] * len(rows)
    with torch.inference_mode():
        first = 0
        while first < len(order):
            width = rows[order[first]].shape[0]
            group = order[first : first + max(1, budget // width)]
            batch = torch.full((len(group), width), prepared["pad_id"], dtype=torch.long)
            for row, index in enumerate(group):
                batch[row, : rows[index].shape[0]] = rows[index]
            logits: Tensor = model(input_ids=batch, use_cache=False).logits  # (B, T, V)
            logp = functional.log_softmax(logits[:, :-1].float(), dim=-1)
            picked = logp.gather(2, batch[:, 1:, None])[..., 0]  # (B, T - 1)
            for row, index in enumerate(group):
                totals[index] = -float(picked[row, : rows[index].shape[0] - 1].sum())
            first += len(group)
    return len(totals)


def rate(work: Callable[[], int]) -> float:
    """Documents per second of one call of ``work``."""
    began = time.perf_counter()
    done = work()
    return done / (time.perf_counter() - began)


def compare(
    opts: harness.Options, label: str, model: CorpusModel, docs: list[str], runs: str
) -> None:
    """The two figures of one model."""
    prepared, hf = model

    def ours() -> float:
        job = score_corpus(prepared, docs, tables=["documents"], runs_dir=runs, show=False)
        return rate(lambda: job.result()["documents"])

    def theirs() -> float:
        return rate(lambda: plain_batched(hf, prepared, docs))

    def loop() -> float:
        some = docs[: min(len(docs), LOOP_DOCS)]
        return rate(lambda: sum(1 for doc in some if api.score(prepared, text=doc)))

    mine, base = harness.alternate(ours, theirs, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"corpus_{label}_{len(docs)}_docs_vs_hf_batched_forward",
            mine,
            base,
            unit="docs/s",
            target=TARGET,
        )
    )
    mine, base = harness.alternate(ours, loop, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"corpus_{label}_{len(docs)}_docs_vs_score_loop", mine, base, unit="docs/s", target=0.0
        )
    )


CorpusModel = tuple[PreparedLMModel, nn.Module]


def gpt2_small(runs: str, quick: bool) -> CorpusModel:
    """GPT-2 of the measured size (``tiny`` when quick), trained one step on the corpus."""
    api.train(
        model_family="gpt2",
        model_size="tiny" if quick else "small",
        tokenizer_kind="bpe",
        vocab_size=512,
        max_seq_len=128,
        num_epochs=1,
        max_steps_per_epoch=1,
        batch_size=2,
        watch_learning=False,
        device="cpu",
        run_id="gpt2",
        runs_dir=runs,
        show=False,
    ).result()
    prepared = api.load_run("gpt2", runs_dir=runs)
    return prepared, model_as(prepared, GPT2LM).hf


def pretrained(root: str) -> CorpusModel:
    """A tiny GPT-2-shaped checkpoint saved to a folder and loaded with ``load_model``."""
    folder = save_tiny_checkpoint(str(Path(root) / "tiny-gpt2"), "gpt2", builtin_text())
    prepared = api.load_model(folder)
    return prepared, model_as(prepared, HFCausalLM).hf


def large(runs: str, model: CorpusModel, megabytes: int) -> None:
    """Score a corpus of ``megabytes`` MB to the documents table; print rate and peak RSS."""
    path = Path(runs) / "large.jsonl"
    lines = [json.dumps({"text": doc}) + "\n" for doc in sentences(DOCS)]
    written = 0
    with path.open("w", encoding="utf-8") as out:
        while written < megabytes << 20:
            for line in lines:
                out.write(line)
                written += len(line)
    began = time.perf_counter()
    outcome = score_corpus(
        model[0], str(path), tables=["documents"], runs_dir=runs, show=False
    ).result()
    seconds = time.perf_counter() - began
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    docs_per_s = outcome["documents"] / seconds
    harness.emit(
        harness.figure(
            f"corpus_large_{megabytes}mb_peak_rss",
            [peak_mib],
            [BUDGET_MIB],
            unit=f"MiB ({outcome['documents']:,} docs at {docs_per_s:,.0f} docs/s)",
            target=1.0,
            higher_is_better=False,
        )
    )


def main() -> None:
    parser = harness.make_parser(__doc__ or "")
    parser.add_argument("--docs", type=int, help=f"sentences to score (default {DOCS})")
    parser.add_argument("--large-mb", type=int, help="score a corpus of this many MB instead")
    args = parser.parse_args()
    opts = harness.start(args)
    count: int = args.docs or (QUICK_DOCS if opts["quick"] else DOCS)
    with tempfile.TemporaryDirectory() as root:
        runs = str(Path(root) / "runs")
        gpt2 = gpt2_small(runs, opts["quick"])
        if args.large_mb:
            large(runs, gpt2, args.large_mb)
            return
        docs = sentences(count)
        compare(opts, "gpt2_small", gpt2, docs, runs)
        compare(opts, "pretrained", pretrained(root), docs, runs)


if __name__ == "__main__":
    main()

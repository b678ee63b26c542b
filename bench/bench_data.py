"""The data path at scale: encoding speed, a run's memory and a cache hit's start, on a big corpus.

The script writes a corpus of ``--mb`` megabytes (default 200; 2 in a quick run) to a
temporary folder: the builtin text over and over, each copy headed by its number, so no two
copies are the same text. It is never kept. Five figures:

- ``bpe_encode_vs_encode_batch``: building the token cache of a corpus of ``--bpe-mb``
  megabytes made the same way (default 50) with a byte-level BPE (512 ids, learnt on the
  builtin text) through
  ``prepare_run_data`` (read, decode, cut, encode, write the ids file), against calling
  ``tokenizers``' ``encode_batch`` directly on the same text, read in the same blocks and cut
  into the same chunks, keeping only the count of ids. Target 0.9.
- ``char_encode_mb_per_s``: building the char tokenizer's token cache of the whole corpus,
  in megabytes of text a second, against 50 MB/s.
- ``run_peak_rss_budget``: peak resident memory of ``mt.train`` of a ``char_lstm tiny`` run of
  20 steps on the corpus (a child process, fresh cache, so tokenizer training and encoding
  included), against 1.5 GiB.
- ``run_peak_rss_vs_builtin``: the same peak against twice the peak of the same run on the
  builtin corpus plus the size of the token file.
- ``cache_hit_first_step_s``: seconds from calling ``mt.train`` (the notebook API already
  imported) to the first step's progress event in a second run on the same corpus, in a
  fresh process (every cache hit; torch's first step still pays its own lazy imports),
  against 2 s.

Encoding figures alternate their two sides (``harness.alternate``), the BPE pair at most 3
rounds each; the others are one run each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer

import harness
from model_trainer.core.config.settings import Settings, load_settings, with_overrides
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.corpus import BUILTIN_PYTHON_DOCS, builtin_text
from model_trainer.core.data.prepare import RunSource, prepare_run_data
from model_trainer.core.data.sources import read_pieces
from model_trainer.core.tokenizers.bpe import CHUNK_CHARS, BPETokenizer, chunk_text
from model_trainer.core.tokenizers.char import CharTokenizer

MB = 1_000_000
MIB = 1024.0 * 1024.0
FULL_MB = 200
QUICK_MB = 2
FULL_BPE_MB = 50
BPE_ROUNDS = 3
BPE_VOCAB = 512
CHAR_TARGET_MB_S = 50.0
RSS_BUDGET_MIB = 1536.0
FIRST_STEP_BUDGET_S = 2.0
STEPS = 20

# The child run: 20 steps of char_lstm tiny; prints its first step's delay and its peak RSS.
CHILD = """
import json, resource, sys, time
import model_trainer as mt
from model_trainer.core.events.sinks import CallbackSink
corpus, runs, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
train = mt.train  # the notebook API is imported before the clock starts
first = []
start = time.perf_counter()
def seen(event):
    if event["type"] == "trainer.metrics.progress.v1" and not first:
        first.append(time.perf_counter() - start)
train(
    model_family="char_lstm", model_size="tiny", corpus_path=corpus, num_epochs=1,
    max_steps_per_epoch=steps, val_fraction=0.0, device="cpu", runs_dir=runs,
    show=False, sinks=[CallbackSink(seen)],
).result()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"first_step_s": first[0], "peak_mib": peak}))
"""


def write_corpus(path: Path, megabytes: int) -> int:
    """Write at least ``megabytes`` MB of varied text to ``path``; return its size in bytes."""
    base = builtin_text()
    size = 0
    with path.open("w", encoding="utf-8") as out:
        copy = 0
        while size < megabytes * MB:
            block = f"== copy {copy} ==\n{base}\n"
            out.write(block)
            size += len(block.encode("utf-8"))
            copy += 1
    return path.stat().st_size


def _settings(runs: Path) -> Settings:
    return {**with_overrides(load_settings(), runs_dir=str(runs)), "max_corpus_chars": 10**12}


def build_seconds(path: Path, runs: Path, tokenizer: TokenizerHandle) -> float:
    """Seconds to build ``path``'s token cache with ``tokenizer`` from scratch (split cached)."""
    source = RunSource(train_config(corpus_path=str(path), val_fraction=0.0), _settings(runs))
    shutil.rmtree(source.folder / tokenizer.tokenizer_id, ignore_errors=True)
    return harness.seconds(lambda: prepare_run_data(source, tokenizer))


def encode_batch_seconds(path: Path, tokenizer: Tokenizer) -> float:
    """Seconds for ``encode_batch`` over ``path``'s text in the same blocks and chunks."""

    def work() -> int:
        count = 0
        for piece in read_pieces(path, "corpus_path"):
            chunks = chunk_text(piece, CHUNK_CHARS)
            count += sum(
                len(e.ids) for e in tokenizer.encode_batch(chunks, add_special_tokens=False)
            )
        return count

    return harness.seconds(work)


def child_run(corpus: str, runs: Path) -> dict[str, float]:
    """Run ``CHILD`` on ``corpus`` in a fresh process; return what it printed."""
    env = {
        **os.environ,
        "MODEL_TRAINER_MAX_CORPUS_CHARS": str(10**12),
        "MODEL_TRAINER_PROGRESS_INTERVAL_S": "0",
        "MODEL_TRAINER_NUM_THREADS": str(torch.get_num_threads()),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, corpus, str(runs), str(STEPS)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    print(done.stderr, file=sys.stderr, end="")
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def main() -> None:
    parser = harness.make_parser(__doc__ or "")
    parser.add_argument("--mb", type=int, help=f"corpus megabytes (default {FULL_MB})")
    parser.add_argument("--bpe-mb", type=int, help=f"BPE slice (default {FULL_BPE_MB})")
    args = parser.parse_args()
    opts = harness.start(args)
    quick = opts["quick"]
    megabytes: int = args.mb or (QUICK_MB if quick else FULL_MB)
    bpe_mb: int = min(args.bpe_mb or (QUICK_MB if quick else FULL_BPE_MB), megabytes)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        corpus = folder / "corpus.txt"
        size = write_corpus(corpus, megabytes)
        print(f"corpus: {size / MB:.0f} MB in {corpus}", file=sys.stderr, flush=True)

        sample = folder / "bpe.txt"
        write_corpus(sample, bpe_mb)
        bpe = BPETokenizer.train(builtin_text() * 2, BPE_VOCAB)
        bpe.save(str(folder / "bpe.json"))
        plain = Tokenizer.from_file(str(folder / "bpe.json"))
        plain.encode_special_tokens = True
        megabytes_of = sample.stat().st_size / MB
        ours, base = harness.alternate(
            lambda: megabytes_of / build_seconds(sample, folder / "runs", bpe),
            lambda: megabytes_of / encode_batch_seconds(sample, plain),
            rounds=min(opts["rounds"], BPE_ROUNDS),
        )
        harness.emit(
            harness.figure("bpe_encode_vs_encode_batch", ours, base, unit="MB/s", target=0.9)
        )

        char = CharTokenizer.from_text(builtin_text() + "=0123456789")
        rates = harness.repeat(
            lambda: size / MB / build_seconds(corpus, folder / "runs", char), rounds=opts["rounds"]
        )
        harness.emit(
            harness.figure(
                "char_encode_mb_per_s",
                rates,
                [CHAR_TARGET_MB_S] * len(rates),
                unit="MB/s",
                target=1.0,
            )
        )

        runs = folder / "child-runs"
        builtin = child_run(BUILTIN_PYTHON_DOCS, runs)
        fresh = child_run(str(corpus), runs)
        hit = child_run(str(corpus), runs)
        hit_source = RunSource(
            train_config(corpus_path=str(corpus), val_fraction=0.0), _settings(runs)
        )
        (ids_file,) = hit_source.folder.glob("*/train.bin")
        token_mib = ids_file.stat().st_size / MIB
        peak = fresh["peak_mib"]
        harness.emit(
            harness.figure(
                "run_peak_rss_budget",
                [peak],
                [RSS_BUDGET_MIB],
                unit="MiB",
                target=1.0,
                higher_is_better=False,
            )
        )
        allowed = 2 * builtin["peak_mib"] + token_mib
        harness.emit(
            harness.figure(
                "run_peak_rss_vs_builtin",
                [peak],
                [allowed],
                unit="MiB",
                target=1.0,
                higher_is_better=False,
            )
        )
        harness.emit(
            harness.figure(
                "cache_hit_first_step_s",
                [hit["first_step_s"]],
                [FIRST_STEP_BUDGET_S],
                unit="s",
                target=1.0,
                higher_is_better=False,
            )
        )
        print(
            f"builtin peak {builtin['peak_mib']:.0f} MiB, token file {token_mib:.0f} MiB, "
            f"fresh run first step {fresh['first_step_s']:.1f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()

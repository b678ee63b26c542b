"""Attack the kit as a hostile but realistic user would, and count how each attack ends.

Usage: ``python scripts/attack.py [--quick]`` (``--quick``: a few attacks of each family).

Each attack goes through a public function (``model_trainer``) or the command line (its
``main``, in this process) and ends one of four ways:

- ``handled``: a ``ModelTrainerError`` with a code other than ``INTERNAL_ERROR``, a command
  that printed one ``error[CODE]`` line, or a run that completed and said what it could not
  write (a fault after training);
- ``internal``: ``INTERNAL_ERROR``;
- ``traceback``: any other exception, or a command that printed a traceback;
- ``accepted``: an input the kit should have refused and took.

The families are the reliability issue's: bounds on each numeric field, each ambiguous pair,
corruption of each file of the token cache, and faults of the machine on each path the kit
writes. The script prints one line per attack that did not end ``handled``, then the counts,
and exits 1 unless every attack was handled.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final, Literal

import model_trainer as mt
from model_trainer.api import runs_settings
from model_trainer.cli import main
from model_trainer.core.contracts.defaults import train_config_from_mapping
from model_trainer.core.contracts.schema import GENERATE_FIELDS, SCORE_FIELDS, TRAIN_FIELDS
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.data.memory import Corpus, save_corpus
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.train_job import start_train

Ending = Literal["handled", "internal", "traceback", "accepted"]
ENDINGS: Final[tuple[Ending, ...]] = ("handled", "internal", "traceback", "accepted")
BAD_NUMBERS: Final[tuple[object, ...]] = (-1, 10**24, 1e20, float("nan"), "7", True)
NO_CEILING: Final = ("grad_clip", "learning_rate", "weight_decay", "temperature")
"""Fields whose every finite value above 0 is taken: a huge gradient clip clips nothing, a
huge learning rate or decay trains into ``TRAINING_NAN_LOSS`` (a coded error), a huge
temperature samples uniformly."""
TINY: Final[dict[str, object]] = {
    "model_family": "char_lstm",
    "model_size": "tiny",
    "num_epochs": 1,
    "max_seq_len": 16,
    "batch_size": 8,
    "max_steps_per_epoch": 2,
    "warmup_steps": 1,
    "device": "cpu",
    "watch_learning": False,
}


class Campaign:
    """The attacks run so far and how each ended, in a scratch folder of their own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.endings: dict[str, Ending] = {}
        self.families: dict[str, str] = {}
        self.family = ""
        self.corpus = root / "corpus.txt"
        self.corpus.write_text(builtin_text()[:6000], encoding="utf-8")
        self.count = 0

    def folder(self) -> Path:
        """A fresh folder for one attack."""
        self.count += 1
        path = self.root / f"a{self.count:03d}"
        path.mkdir()
        return path

    def call(self, name: str, attack: Callable[[], object], *, refused: bool = True) -> None:
        """Run a Python attack; ``refused``: an input the kit must refuse."""
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self._end(name, _ending(attack, refused))

    def cli(self, name: str, argv: list[str], *, refused: bool = True) -> None:
        """Run a command line; ``refused``: one the kit must end with an error line."""
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = _ending(lambda: main(argv), refused=False)
        text = err.getvalue()
        if status != "handled" or "Traceback" in text:
            self._end(name, "traceback")
        elif "error[INTERNAL_ERROR]" in text:
            self._end(name, "internal")
        elif refused and "error[" not in text:
            self._end(name, "accepted")
        else:
            self._end(name, "handled")

    def _end(self, name: str, ending: Ending) -> None:
        self.endings[name] = ending
        self.families[name] = self.family

    def train(
        self,
        runs: Path,
        fields: Mapping[str, object] | None = None,
        *,
        corpus: Corpus | None = None,
        run_id: str | None = None,
    ) -> None:
        """A tiny run of ``fields`` over ``TINY`` in ``runs`` (as ``mt.train``), waited for."""
        cfg = train_config_from_mapping({**TINY, "corpus_path": str(self.corpus), **(fields or {})})
        settings = runs_settings(str(runs))
        if corpus is not None:
            cfg["corpus_path"] = save_corpus(
                corpus, settings, field="corpus", text_field="text", split="train"
            )
        start_train(cfg, settings, sinks=(), view=None, run_id=run_id).result()


def _ending(attack: Callable[[], object], refused: bool) -> Ending:
    try:
        attack()
    except ModelTrainerError as exc:
        return "internal" if exc.code == "INTERNAL_ERROR" else "handled"
    except Exception:  # the campaign counts what the kit let through
        traceback.print_exc()
        return "traceback"
    return "accepted" if refused else "handled"


def _numeric(fields: object) -> Iterator[str]:
    assert isinstance(fields, tuple)
    for field in fields:
        if isinstance(field["default"], int | float) and not isinstance(field["default"], bool):
            yield str(field["name"])


def bounds(campaign: Campaign, quick: bool) -> None:
    """Every numeric field of every config, from Python and from the command line."""
    values = BAD_NUMBERS[:3] if quick else BAD_NUMBERS
    for name in _numeric(TRAIN_FIELDS):
        for value in values:
            if name in NO_CEILING and value in (10**24, 1e20):
                continue
            campaign.call(f"train {name}={value!r}", functools.partial(
                train_config_from_mapping, {**TINY, name: value}
            ))  # fmt: skip
            if quick:
                continue
            campaign.call(f"sweep base {name}={value!r}", functools.partial(
                mt.sweep, {**TINY, name: value}, {"seed": [0]}, runs_dir=str(campaign.root),
                show=False,
            ))  # fmt: skip
        if name in NO_CEILING:
            continue
        campaign.cli(f"cli train --{name.replace('_', '-')} 1e20", [
            "train", f"--{name.replace('_', '-')}", "1e20",
            "--runs-dir", str(campaign.root / "bounds"),
        ])  # fmt: skip
    runs = campaign.root / "scored"
    campaign.train(runs, run_id="scored")
    words = ("-1", "1e24", "nan", "x")[: 2 if quick else None]
    for command, fields, given in (
        ("score", SCORE_FIELDS, ["--text", "some text"]),
        ("generate", GENERATE_FIELDS, ["--prompt", "so"]),
    ):
        for name in _numeric(fields):
            for word in words:
                if name in NO_CEILING and word == "1e24":
                    continue
                campaign.cli(f"cli {command} --{name} {word}", [
                    command, "scored", *given, f"--{name.replace('_', '-')}", word,
                    "--runs-dir", str(runs),
                ])  # fmt: skip
    for start, end, steps in ((-1.0, 1.0, 10), (1e-5, math.nan, 10), (1e-5, 1.0, 10**24)):
        campaign.call(f"lr_find start={start} end={end} steps={steps}", functools.partial(
            mt.lr_find, corpus_path=str(campaign.corpus), start_lr=start, end_lr=end,
            num_steps=steps, runs_dir=str(runs), show=False,
        ))  # fmt: skip
    for trials, seed in ((0, 0), (10**12, 0), (1, 10**24), (1, -1)):
        campaign.call(f"sweep num_trials={trials} seed={seed}", functools.partial(
            mt.sweep, TINY, {"seed": [0]}, sampler="random", num_trials=trials, seed=seed,
            runs_dir=str(runs), show=False,
        ))  # fmt: skip
    for count in (0, 10**6, -3):
        campaign.call(f"launch_distributed nproc_per_node={count}", functools.partial(
            mt.launch_distributed, TINY, nproc_per_node=count, runs_dir=str(runs), show=False
        ))  # fmt: skip
    campaign.cli("cli score --top-k 10**9", [
        "score", "scored", "--text", "x", "--top-k", str(10**9), "--runs-dir", str(runs),
    ])  # fmt: skip
    campaign.cli("cli tokenizer vocab 10**8", [
        "tokenizer", "train", "--corpus", str(campaign.corpus), "--kind", "bpe",
        "--vocab-size", str(10**8), "--out", str(campaign.root / "tok.json"),
    ])  # fmt: skip


def ambiguous(campaign: Campaign) -> None:
    """Each pair of inputs the kit could read one way or the other, and inputs it would ignore."""
    runs = str(campaign.root / "ambiguous")
    corpus = str(campaign.corpus)
    text = builtin_text()[:3000]
    folder = campaign.folder()
    (folder / "a.txt").write_text(text, encoding="utf-8")
    bad_csv = folder / "rows.csv"
    bad_csv.write_text('text\nfirst\n"second\n' + "row\n" * 300, encoding="utf-8")
    saved = folder / "saved"
    saved.mkdir()
    (saved / "dataset_info.json").write_text("{not json", encoding="utf-8")
    (saved / "state.json").write_text("[]", encoding="utf-8")
    cases: list[tuple[str, dict[str, object]]] = [
        ("early stopping without a split", {"early_stopping_patience": 2, "val_fraction": 0.0}),
        ("eval steps without a split", {"eval_every_steps": 2, "val_fraction": 0.0}),
        ("min_delta without patience", {"early_stopping_min_delta": 0.1}),
        ("samples without watching", {"sample_every_steps": 5}),
        ("an absolute glob", {"corpus_path": str(folder), "glob": str(folder / "*.txt")}),
        ("a glob leaving the folder", {"corpus_path": str(folder), "glob": "../*.txt"}),
        ("a glob for a text file", {"glob": "*.md"}),
        ("a text_field for a text file", {"text_field": "body"}),
        ("a dataset_split for a text file", {"dataset_split": "held"}),
        ("a val_split without val_path", {"val_split": "held"}),
        ("an unterminated CSV quote", {"corpus_path": str(bad_csv)}),
        ("a damaged datasets folder", {"corpus_path": str(saved)}),
    ]
    for name, fields in cases:
        campaign.call(name, functools.partial(campaign.train, Path(runs), fields))
    both = functools.partial(mt.train, corpus=text, corpus_path=corpus, runs_dir=runs, show=False)
    campaign.call("corpus with corpus_path", both)
    vals = functools.partial(mt.train, val_corpus=text, val_path=corpus, runs_dir=runs, show=False)
    campaign.call("val_corpus with val_path", vals)
    for name, held in (
        ("a path as corpus text", corpus),
        ("an empty document list", []),
        ("blank documents", ["", "  "]),
    ):
        campaign.call(name, functools.partial(campaign.train, Path(runs), corpus=held))
    campaign.call(
        "list_runs of a missing folder",
        lambda: mt.list_runs(runs_dir=str(campaign.root / "missing")),
    )
    campaign.cli("cli runs --runs-dir /missing", [
        "runs", "--runs-dir", str(campaign.root / "missing"),
    ])  # fmt: skip


def _cache_files(runs: Path) -> list[Path]:
    cache = runs / ".cache"
    return sorted(
        path for path in cache.rglob("*") if path.is_file() and "sources" not in path.parts
    )


def _corruptions() -> dict[str, Callable[[Path], None]]:
    def garbage(path: Path) -> None:
        path.write_bytes(b"\xffnot what was written\x00" * 8)

    def empty(path: Path) -> None:
        path.write_bytes(b"")

    def high_ids(path: Path) -> None:
        path.write_bytes(b"\xff" * path.stat().st_size)

    return {"garbage": garbage, "empty": empty, "high ids": high_ids}


def cache(campaign: Campaign, quick: bool) -> None:
    """Each file of a corpus's token cache corrupted, then a run on that corpus."""
    runs = campaign.root / "cache"
    campaign.train(runs, run_id="first")
    files = _cache_files(runs)
    kinds = list(_corruptions().items())[: 1 if quick else None]
    for index, file in enumerate(files):
        for kind, corrupt in kinds:
            keep = file.read_bytes()
            corrupt(file)
            name = f"cache {file.relative_to(runs)} {kind}"
            run_id = f"c{index}-{kind.replace(' ', '-')}"
            campaign.call(
                name, functools.partial(campaign.train, runs, run_id=run_id), refused=False
            )
            if file.is_file():
                file.write_bytes(keep)


def faults(campaign: Campaign) -> None:
    """A path the kit writes already taken by something in the way."""
    folder = campaign.folder()
    as_file = folder / "runs-file"
    as_file.write_text("in the way", encoding="utf-8")
    campaign.call("runs folder is a file", lambda: campaign.train(as_file))
    runs = folder / "runs"
    runs.mkdir()
    campaign.cli("cli score --path a folder", [
        "score", "ghost", "--path", str(folder), "--runs-dir", str(runs),
    ])  # fmt: skip
    campaign.cli("cli tokenizer --out a folder", [
        "tokenizer", "train", "--corpus", str(campaign.corpus), "--kind", "char",
        "--out", str(folder),
    ])  # fmt: skip
    campaign.cli("cli tokenizer --out a missing parent", [
        "tokenizer", "train", "--corpus", str(campaign.corpus), "--kind", "char",
        "--out", str(folder / "no" / "such" / "tok.json"),
    ])  # fmt: skip
    campaign.cli("cli score a missing run", [
        "score", "ghost", "--text", "x", "--runs-dir", str(runs),
    ])  # fmt: skip
    campaign.cli("cli generate --prompt-path a folder", [
        "generate", "ghost", "--prompt-path", str(folder), "--runs-dir", str(runs),
    ])  # fmt: skip


def run(quick: bool) -> dict[Ending, int]:
    """Run the campaign; print what did not end ``handled``; return the counts."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        campaign = Campaign(Path(tmp))
        for family, attack in (
            ("bounds", functools.partial(bounds, campaign, quick)),
            ("ambiguous", functools.partial(ambiguous, campaign)),
            ("cache", functools.partial(cache, campaign, quick)),
            ("faults", functools.partial(faults, campaign)),
        ):
            campaign.family = family
            attack()
    counts: dict[Ending, int] = dict.fromkeys(ENDINGS, 0)
    by_family: dict[str, dict[Ending, int]] = {}
    for name, ending in campaign.endings.items():
        counts[ending] += 1
        tally = by_family.setdefault(campaign.families[name], dict.fromkeys(ENDINGS, 0))
        tally[ending] += 1
        if ending != "handled":
            print(f"{ending:<10} {name}")
    for family, kinds in by_family.items():
        print(json.dumps({"family": family, **kinds}))
    return counts


if __name__ == "__main__":
    totals = run(quick="--quick" in sys.argv[1:])
    print(json.dumps({"attacks": sum(totals.values()), **totals}))
    sys.exit(0 if totals["handled"] == sum(totals.values()) else 1)

"""``model-trainer score-corpus``: a corpus scored by one or more models into tables.

Its flags are the fields of ``CorpusScoreConfig`` (``--out`` names the scoring's folder);
each ``MODEL`` is ``NAME=REF`` or a bare ``REF`` (a run id or a Hugging Face model folder).
Scoring again with the same ``--out`` goes on where a stopped or killed one was. Ctrl-C or
SIGTERM stops it between two batches, its finished windows kept (exit status 130, or 143).
"""

from __future__ import annotations

import argparse
import os
from typing import Final, Protocol, TypeVar

import torch
from torch import distributed as dist

from model_trainer.cli_flags import add_config_flags, given_fields
from model_trainer.cli_output import print_json
from model_trainer.core.config.settings import load_settings, with_overrides
from model_trainer.core.contracts.corpus import CORPUS_FIELDS, CorpusScoreConfig, corpus_overlay
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.jobs.corpus_job import ScoringJob, start_corpus_job
from model_trainer.core.jobs.signals import signal_status, stop_on_signals
from model_trainer.core.training.device import available_device
from model_trainer.core.training.distributed import (
    WorldInfo,
    cuda_index,
    process_group,
    timeout_from_env,
    under_torchrun,
    world_from_env,
)
from model_trainer.corpus_api import CorpusModelRef, plan_scoring, score_corpus

ParserT = TypeVar("ParserT", bound=argparse.ArgumentParser)
EXIT_OK: Final = 0
EXIT_CANCELLED: Final = 130
POLL_S: Final = 0.1
HELP: Final = (
    "score every document of a corpus with one or more models; write documents, words and "
    "characters tables (Parquet) under the runs folder"
)


class _CorpusArgs(Protocol):
    models: list[str]
    corpus: str
    json: bool
    runs_dir: str | None


def model_refs(specs: list[str]) -> dict[str, CorpusModelRef]:
    """``NAME=REF`` or ``REF`` specs as names and references (a bare ref names itself)."""
    refs: dict[str, CorpusModelRef] = {}
    for spec in specs:
        name, _, ref = spec.rpartition("=")
        refs[name or ref] = ref
    return refs


def _rank_job(args: _CorpusArgs, cfg: CorpusScoreConfig, world: WorldInfo) -> ScoringJob:
    """This process's share of a scoring under torchrun (``--out`` names it on every rank)."""
    torch.cuda.set_device(cuda_index(available_device("auto"), world["local_rank"]))
    settings = with_overrides(load_settings(), runs_dir=args.runs_dir)
    plan = plan_scoring(
        model_refs(args.models),
        args.corpus,
        cfg,
        settings,
        rank=world["rank"],
        world=world["world_size"],
        meet=dist.barrier,
    )
    return start_corpus_job(plan, settings)


def run_score_corpus(raw: argparse.Namespace) -> int:
    """Score the corpus; print the outcome (``--json``: as JSON); returns the exit status.

    Under torchrun (``WORLD_SIZE`` > 1) this process scores its share; rank 0 prints.
    """
    args: _CorpusArgs = raw
    cfg: CorpusScoreConfig = corpus_overlay(given_fields(raw, CORPUS_FIELDS), where="flags")
    if under_torchrun(os.environ):
        if cfg["name"] is None:
            raise ModelTrainerError(
                "INVALID_CONFIG", "score-corpus under torchrun needs --out (one name for all ranks)"
            )
        world = world_from_env(os.environ)
        with process_group(world, device="cpu", timeout_s=timeout_from_env(os.environ)):
            return _finish(args, _rank_job(args, cfg, world), quiet=world["rank"] != 0)
    job = score_corpus(
        model_refs(args.models),
        args.corpus,
        name=cfg["name"],
        text_field=cfg["text_field"],
        glob=cfg["glob"],
        dataset_split=cfg["dataset_split"],
        tables=cfg["tables"],
        top_k=cfg["top_k"],
        batch_tokens=cfg["batch_tokens"],
        window_docs=cfg["window_docs"],
        precision=cfg["precision"],
        runs_dir=args.runs_dir,
        show=True,
    )
    return _finish(args, job, quiet=False)


def _finish(args: _CorpusArgs, job: ScoringJob, *, quiet: bool) -> int:
    """Wait for ``job`` (Ctrl-C or SIGTERM stops it), print its outcome unless ``quiet``."""
    signals: list[int] = []

    def stop(signum: int) -> None:
        signals.append(signum)
        job.stop()

    with stop_on_signals(stop):
        while not job.wait(POLL_S):
            pass
    outcome = job.result()
    if args.json and not quiet:
        print_json(outcome)
    elif not quiet:
        print(
            f"scoring {outcome['name']}: {outcome['documents']:,} documents in {outcome['folder']}"
        )
        for name, totals in outcome["models"].items():
            print(f"{name:>20} {totals['bits_per_char']:.4f} bits/char")
    if outcome["cancelled"]:
        return signal_status(signals[0]) if signals else EXIT_CANCELLED
    return EXIT_OK


def add_score_corpus(commands: argparse._SubParsersAction[ParserT]) -> None:
    """Add the ``score-corpus`` subcommand to ``commands``."""
    parser = commands.add_parser("score-corpus", help=HELP, description=HELP)
    parser.set_defaults(handler=run_score_corpus)
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="NAME=REF or REF: a run id or a Hugging Face model folder (the name in the tables)",
    )
    parser.add_argument(
        "--corpus",
        required=True,
        help="a text file, a folder, a .jsonl/.csv/.parquet file or a saved dataset "
        "(a table's other columns are kept as each document's metadata)",
    )
    add_config_flags(parser, CorpusScoreConfig, CORPUS_FIELDS)
    parser.add_argument(
        "--json", action="store_true", help="print the outcome as JSON on stdout, nothing else"
    )
    parser.add_argument(
        "--runs-dir", help="folder of the runs (default: $MODEL_TRAINER_RUNS_DIR or ./runs)"
    )

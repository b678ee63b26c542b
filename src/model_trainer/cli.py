"""The ``model-trainer`` command: demo, train, resume, eval, runs, score, generate, tokenizer.

``score-corpus`` (a corpus scored into tables) lives in ``cli_corpus.py``.

Every subcommand takes ``--json`` to print its outcome as JSON on stdout and nothing else
there; progress goes to stderr. Exit status: 0 on success, 2 for a usage or validation
error (one line ``error[CODE]: message`` on stderr), 1 for other failures, 130 after a
cancel: Ctrl-C (or SIGTERM, then the status is 143) while a run trains stops it at its next
step, with a checkpoint, and records it ``cancelled``.

Under torchrun (``WORLD_SIZE`` > 1) ``train`` and ``resume`` run this process's rank of the
run: rank 0 owns the run folder and prints, the other ranks train alongside it quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import (
    Final,
    NoReturn,
    Protocol,
    TypedDict,
    TypeVar,
)

from model_trainer.cli_configs import (
    DETAIL_FLAG,
    generate_config_of,
    score_config_of,
    train_config_of,
)
from model_trainer.cli_corpus import add_score_corpus
from model_trainer.cli_flags import add_config_flags
from model_trainer.cli_output import print_json
from model_trainer.core.config.settings import Settings, load_settings, with_overrides
from model_trainer.core.contracts.model import (
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    ModelTrainConfig,
    ScoreConfig,
    ScoreOutcome,
    TrainOutcome,
)
from model_trainer.core.contracts.schema import (
    GENERATE_FIELDS,
    SCORE_FIELDS,
    TRAIN_FIELDS,
    generate_overlay,
    train_overlay,
)
from model_trainer.core.contracts.units import bits_per_char
from model_trainer.core.distributed.rank import RankEnd, distributed_resume, distributed_train
from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode, user_error
from model_trainer.core.events.sinks import EventSink
from model_trainer.core.events.tensorboard_sink import TensorBoardSink
from model_trainer.core.events.trainer_metrics_events import (
    is_config,
)
from model_trainer.core.faults import machine_fault
from model_trainer.core.jobs.eval_job import start_eval
from model_trainer.core.jobs.generate_job import start_generate
from model_trainer.core.jobs.run_store import CURVES_FILE, REPORT_FILE, RunSummary, list_runs
from model_trainer.core.jobs.runner import JobHandle
from model_trainer.core.jobs.score_job import start_score
from model_trainer.core.jobs.signals import signal_status, stop_on_signals
from model_trainer.core.jobs.tokenizer_job import TokenizerOutcome, start_tokenizer
from model_trainer.core.jobs.train_job import resume_train, start_train
from model_trainer.core.jobs.train_work import checkpoint_step
from model_trainer.core.training.distributed import under_torchrun
from model_trainer.notebook.console import ConsoleSink

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_CANCELLED: Final = 130
CLOSED_PIPE: Final = 141
"""The status of a command whose reader closed standard output (128 + ``SIGPIPE``)."""
POLL_S: Final = 0.1
DEMO_PROMPT: Final = "The "

OutcomeT = TypeVar("OutcomeT")
ConfigT = TypeVar("ConfigT")


def exit_status(code: ModelTrainerErrorCode) -> int:
    """130 for a cancel, 2 for an error the user can fix (a 4xx code), else 1."""
    if code == "TRAINING_CANCELLED":
        return EXIT_CANCELLED
    return EXIT_USAGE if user_error(code) else EXIT_FAILED


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are ``INVALID_CONFIG`` errors."""

    def error(self, message: str) -> NoReturn:
        raise ModelTrainerError("INVALID_CONFIG", f"{self.prog}: {message}")


def _wait_signalled(handle: JobHandle[OutcomeT]) -> tuple[OutcomeT, int | None]:
    """Wait for a job; Ctrl-C or SIGTERM cancels it, and the wait goes on until it stops.

    Returns its outcome and the number of the first signal that cancelled it (or None).
    """
    signals: list[int] = []

    def stop(signum: int) -> None:
        print("\ncancelling: stopping at the next step...", file=sys.stderr)
        signals.append(signum)
        handle.cancel()

    with stop_on_signals(stop):
        while not handle.wait(POLL_S):
            pass
    return handle.result(), (signals[0] if signals else None)


def _wait(handle: JobHandle[OutcomeT]) -> OutcomeT:
    """Wait for a job's outcome; Ctrl-C or SIGTERM cancels it (see ``_wait_signalled``)."""
    return _wait_signalled(handle)[0]


class _Common(Protocol):
    json: bool
    runs_dir: str | None


class _TrainArgs(_Common, Protocol):
    run_id: str | None
    config: str | None
    tensorboard: bool


class _DemoArgs(_Common, Protocol):
    quick: bool


class _RunArgs(_Common, Protocol):
    run_id: str


class _ModelArgs(_RunArgs, Protocol):
    which: str


class _TokenizerArgs(Protocol):
    json: bool
    corpus: str
    kind: str
    vocab_size: int
    out: str


def _settings(args: _Common) -> Settings:
    return with_overrides(load_settings(), runs_dir=args.runs_dir)


def _train_and_report(
    handle: JobHandle[TrainOutcome], *, as_json: bool, demo: bool, settings: Settings
) -> int:
    outcome, signum = _wait_signalled(handle)
    chars_per_token = next(
        event.get("chars_per_token", 1.0) for event in handle.events if is_config(event)
    )
    val_loss = outcome["val_loss"]
    val_bpc = (
        None if val_loss is None else bits_per_char(val_loss, outcome["loss_unit"], chars_per_token)
    )
    run_dir = Path(handle.run_dir)
    if outcome["cancelled"]:
        hint = (
            f"continue it with: model-trainer resume {handle.run_id}"
            if checkpoint_step(run_dir) is not None
            else "it stopped before its first checkpoint: there is nothing to resume"
        )
        print(
            f"run {handle.run_id} cancelled after {outcome['epochs_completed']} epoch(s); {hint}",
            file=sys.stderr,
        )
        if as_json:
            print_json(outcome)
        return EXIT_CANCELLED if signum is None else signal_status(signum)
    sample = _demo_sample(handle.run_id, settings) if demo else None
    if as_json:
        if sample is None:
            print_json(outcome)
        else:
            summary: DemoSummary = {
                "run_id": handle.run_id,
                "outcome": outcome,
                "val_bits_per_char": val_bpc,
                "prompt": DEMO_PROMPT,
                "sample": sample,
                "curves_path": str(run_dir / CURVES_FILE),
                "report_path": str(run_dir / REPORT_FILE),
            }
            print_json(summary)
        return EXIT_OK
    unit = outcome["loss_unit"]
    print(f"run {handle.run_id} completed: {outcome['epochs_completed']} epoch(s)")
    print(f"train loss       {outcome['loss']:.4f} nats/{unit}")
    if val_loss is not None and val_bpc is not None:
        print(f"validation loss  {val_loss:.4f} nats/{unit}")
        print(f"validation       {val_bpc:.3f} bits per character")
    if sample is not None:
        print(f"sample           {DEMO_PROMPT}{sample}")
    print(f"model            {run_dir / 'model'}")
    print(f"curves           {run_dir / CURVES_FILE}")
    print(f"report           {run_dir / REPORT_FILE}")
    return EXIT_OK


class DemoSummary(TypedDict):
    """What ``model-trainer demo --json`` prints."""

    run_id: str
    outcome: TrainOutcome
    val_bits_per_char: float | None
    prompt: str
    sample: str
    curves_path: str
    report_path: str


def _demo_sample(run_id: str, settings: Settings) -> str:
    cfg = generate_overlay({"prompt_text": DEMO_PROMPT, "max_new_tokens": 200, "seed": 0})
    return _wait(start_generate(run_id, cfg, settings))["outputs"][0]


def demo_config(*, quick: bool) -> ModelTrainConfig:
    """The demo's run: a small char-LSTM on the builtin corpus (a tiny one with ``quick``).

    Four full epochs of 103 batches of 32 windows of 128 characters: about 1.7M characters
    seen, some 100 s of training on two idle CPU cores, to about 2.2 bits per character.
    """
    if quick:
        fields: dict[str, object] = {
            "model_size": "tiny",
            "num_epochs": 1,
            "max_steps_per_epoch": 4,
            "max_seq_len": 32,
            "batch_size": 8,
            "warmup_steps": 1,
        }
        return train_overlay(fields, where="demo")
    return train_overlay({"num_epochs": 4}, where="demo")


def _progress_sinks() -> list[EventSink]:
    return [ConsoleSink(stream=sys.stderr, unit="bits_per_char")]


def _cmd_demo(raw: argparse.Namespace) -> int:
    args: _DemoArgs = raw
    settings = _settings(args)
    handle = start_train(demo_config(quick=args.quick), settings, sinks=_progress_sinks())
    return _train_and_report(handle, as_json=args.json, demo=True, settings=settings)


def _train_or_rank(
    start: Callable[[], JobHandle[TrainOutcome]],
    start_rank: Callable[[RankEnd], int],
    report: RankEnd,
) -> int:
    """Start the train job here, or this process's rank of it under torchrun."""
    if under_torchrun(os.environ):
        return start_rank(report)
    return report(start())


def _cmd_train(raw: argparse.Namespace) -> int:
    args: _TrainArgs = raw
    settings = _settings(args)
    cfg = train_config_of(raw)
    sinks: list[EventSink] = [*_progress_sinks()]
    if args.tensorboard:
        sinks.append(TensorBoardSink(settings["runs_dir"]))
    return _train_or_rank(
        lambda: start_train(cfg, settings, sinks=sinks, run_id=args.run_id),
        lambda report: distributed_train(
            cfg, settings, report=report, run_id=args.run_id, sinks=sinks
        ),
        lambda handle: _train_and_report(handle, as_json=args.json, demo=False, settings=settings),
    )


def _cmd_resume(raw: argparse.Namespace) -> int:
    args: _RunArgs = raw
    settings = _settings(args)
    sinks = _progress_sinks()
    return _train_or_rank(
        lambda: resume_train(args.run_id, settings, sinks=sinks),
        lambda report: distributed_resume(args.run_id, settings, report=report, sinks=sinks),
        lambda handle: _train_and_report(handle, as_json=args.json, demo=False, settings=settings),
    )


def _cmd_eval(raw: argparse.Namespace) -> int:
    args: _RunArgs = raw
    outcome: EvalOutcome = _wait(start_eval(args.run_id, _settings(args)))
    if args.json:
        print_json(outcome)
        return EXIT_OK
    unit = outcome["loss_unit"]
    print(f"validation loss  {outcome['loss']:.4f} nats/{unit}")
    print(f"perplexity       {outcome['perplexity']:.3f}")
    print(f"bits per char    {outcome['bits_per_char']:.4f}")
    print(f"tokens           {outcome['num_tokens']}")
    print(f"characters       {outcome['num_chars']}")
    return EXIT_OK


def _format_run(run: RunSummary) -> str:
    if run["problem"] is not None:
        return f"{run['run_id']:<44} {run['state']:<10} {run['problem']}"
    if run["kind"] == "scoring":
        return (
            f"{run['run_id']:<44} {run['state']:<10} scoring by {run['model_family']}  "
            f"{run['started_at']}"
        )
    val = "-" if run["last_val_loss"] is None else f"{run['last_val_loss']:.4f}"
    return (
        f"{run['run_id']:<44} {run['state']:<10} {run['model_family']:<10} "
        f"{run['model_size']:<7} {run['epochs_done']:>3}/{run['total_epochs']:<3} {val:>9}  "
        f"{run['started_at']}"
    )


def _cmd_runs(raw: argparse.Namespace) -> int:
    args: _Common = raw
    runs = list_runs(_settings(args))
    if args.json:
        print_json(runs)
        return EXIT_OK
    if not runs:
        print("no runs yet")
        return EXIT_OK
    print(
        f"{'run id':<44} {'state':<10} {'family':<10} {'size':<7} {'epochs':<7} "
        f"{'val loss':>9}  started"
    )
    for run in runs:
        print(_format_run(run))
    return EXIT_OK


def _cmd_score(raw: argparse.Namespace) -> int:
    args: _ModelArgs = raw
    cfg = score_config_of(raw)
    outcome: ScoreOutcome = _wait(start_score(args.run_id, cfg, _settings(args), which=args.which))
    if args.json:
        print_json(outcome)
        return EXIT_OK
    print(f"bits per char    {outcome['bits_per_char']:.4f}")
    print(f"loss             {outcome['loss']:.4f} nats/token")
    print(f"perplexity       {outcome['perplexity']:.3f}")
    print(f"tokens           {outcome['num_tokens']}")
    print(f"characters       {outcome['num_chars']}")
    print(f"unknown chars    {outcome['num_unknown_chars']}")
    print(f"canonical bits   {outcome['canonical_bits']:.4f} (the tokenizer's own tokenization)")
    if "char_bits" in outcome:
        print(f"character bits   {outcome['char_bits']:.4f} (every tokenization of the text)")
    for word in outcome.get("per_word", []):
        print(
            f"{word['word']!r:>16} {word['surprisal_bits']:8.3f} bits  "
            f"(ending {word['end_bits']:.3f})  chars {word['start']}-{word['end']}"
        )
    for score in outcome.get("per_char", []):
        expected = ", ".join(
            f"{item['text']!r} {item['prob']:.3f}" for item in score.get("top_k", [])
        )
        print(
            f"{score['char']!r:>8} {score['surprisal_bits']:7.3f} bits  rank {score['rank']:<5}"
            f"{'  expected ' + expected if expected else ''}"
        )
    return EXIT_OK


def _cmd_generate(raw: argparse.Namespace) -> int:
    args: _ModelArgs = raw
    cfg = generate_config_of(raw)
    outcome: GenerateOutcome = _wait(
        start_generate(args.run_id, cfg, _settings(args), which=args.which)
    )
    if args.json:
        print_json(outcome)
        return EXIT_OK
    for index, sequence in enumerate(outcome["sequences"]):
        if len(outcome["sequences"]) > 1:
            print(f"--- sequence {index + 1} ({sequence['stop_reason']}) ---")
        print(sequence["text"])
    return EXIT_OK


def _cmd_tokenizer_train(raw: argparse.Namespace) -> int:
    args: _TokenizerArgs = raw
    handle = start_tokenizer(
        corpus_path=args.corpus,
        kind="bpe" if args.kind == "bpe" else "char",
        vocab_size=args.vocab_size,
        out_path=args.out,
        settings=load_settings(),
    )
    outcome: TokenizerOutcome = _wait(handle)
    if args.json:
        print_json(outcome)
        return EXIT_OK
    print(
        f"saved a {outcome['kind']} tokenizer of {outcome['vocab_size']} ids "
        f"(id {outcome['tokenizer_id']}) to {outcome['path']}"
    )
    return EXIT_OK


Handler = Callable[[argparse.Namespace], int]


def _common(parser: argparse.ArgumentParser, *, runs_dir: bool = True) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the outcome as JSON on stdout, nothing else"
    )
    if runs_dir:
        parser.add_argument(
            "--runs-dir", help="folder of the runs (default: $MODEL_TRAINER_RUNS_DIR or ./runs)"
        )


def _add(
    subparsers: argparse._SubParsersAction[_Parser], name: str, handler: Handler, text: str
) -> _Parser:
    parser = subparsers.add_parser(name, help=text, description=text)
    parser.set_defaults(handler=handler)
    return parser


def _which(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--which",
        choices=("last", "best"),
        default="last",
        help="the run's last weights, or its best checkpoint's (default: last)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = _Parser(
        prog="model-trainer",
        description="Train, score and sample small language models.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = _add(commands, "demo", _cmd_demo, "train a small char-LSTM in about two minutes")
    demo.add_argument("--quick", action="store_true", help="a few seconds instead (for tests)")
    _common(demo)

    train = _add(commands, "train", _cmd_train, "train a new run")
    add_config_flags(train, ModelTrainConfig, TRAIN_FIELDS)
    train.add_argument("--run-id", help="the run's id (default: family-size-time-hex)")
    train.add_argument("--config", help="a JSON file of config fields; flags override it")
    train.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard files in the run's folder (the tensorboard extra)",
    )
    _common(train)

    for name, handler, text in (
        ("resume", _cmd_resume, "continue a cancelled, failed or killed run"),
        ("eval", _cmd_eval, "evaluate a run's model on its validation split"),
    ):
        sub = _add(commands, name, handler, text)
        sub.add_argument("run_id", metavar="RUN_ID")
        _common(sub)

    runs = _add(commands, "runs", _cmd_runs, "list the runs and their states")
    _common(runs)

    score = _add(commands, "score", _cmd_score, "score a text with a run's model")
    score.add_argument("run_id", metavar="RUN_ID")
    add_config_flags(score, ScoreConfig, SCORE_FIELDS, either=("text", "path"))
    shorthands = score.add_mutually_exclusive_group()
    shorthands.add_argument(
        "--per-char",
        dest=DETAIL_FLAG,
        action="store_const",
        const="per_char",
        default=argparse.SUPPRESS,
        help="show every character's score (--detail-level per_char)",
    )
    shorthands.add_argument(
        "--per-word",
        dest=DETAIL_FLAG,
        action="store_const",
        const="per_word",
        default=argparse.SUPPRESS,
        help="show every word's score (--detail-level per_word)",
    )
    _which(score)
    _common(score)

    generate = _add(commands, "generate", _cmd_generate, "sample from a run's model")
    generate.add_argument("run_id", metavar="RUN_ID")
    add_config_flags(
        generate, GenerateConfig, GENERATE_FIELDS, either=("prompt_text", "prompt_path")
    )
    _which(generate)
    _common(generate)

    add_score_corpus(commands)

    tokenizer = _add(commands, "tokenizer", _cmd_tokenizer_train, "tokenizer tools")
    tools = tokenizer.add_subparsers(dest="tool", required=True, metavar="TOOL")
    tok_train = _add(tools, "train", _cmd_tokenizer_train, "train a tokenizer on a corpus")
    tok_train.add_argument("--corpus", required=True, help="the corpus to train on")
    tok_train.add_argument("--kind", choices=("char", "bpe"), required=True, help="kind")
    tok_train.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size")
    tok_train.add_argument("--out", required=True, help="the tokenizer JSON file to write")
    _common(tok_train, runs_dir=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
        handler: Handler = args.handler
        return handler(args)
    except BrokenPipeError:
        drop_output()
        return CLOSED_PIPE
    except OSError as exc:  # standard output on a full disk, say
        drop_output()
        return _report(machine_fault(exc))
    except ModelTrainerError as exc:
        return _report(exc)


def _report(exc: ModelTrainerError) -> int:
    print(f"error[{exc.code}]: {exc.message}", file=sys.stderr)
    return exit_status(exc.code)


def drop_output() -> None:
    """Point standard output at ``/dev/null`` once it cannot be written.

    Its reader has gone or its disk is full: the interpreter's last flush then says nothing.
    """
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)

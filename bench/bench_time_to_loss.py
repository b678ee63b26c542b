"""Time to a target validation loss: ``mt.train`` against a plain nanoGPT-style loop.

Each side starts from the text file alone. Ours is the kit's ``mt.train`` (tokenizer, data,
model, run folder, events, checkpoints). The plain side is the script anyone writes: a char
vocabulary, the minimal GPT of ``bench_gpt2_vs_minimal.py`` (or a plain LSTM of the char-LSTM's
size), AdamW with weight decay on matrices, linear warmup then cosine decay, clipping, the
same seeded batches. Both validate every ``eval_every`` steps on as many validation tokens
(ours: its default ``eval_max_tokens`` sample; the plain loop: the split's first batches, as
nanoGPT's ``eval_iters``) and stop at the first evaluation at or under the target. The figure
is the plain loop's time over ours (higher is better). Both sides train off the main thread:
the kit trains on a job's thread, and the plain loop gets a fresh thread each round too. On a
2-core machine torch work on one thread is about 1.5x slower per step once another thread
has run parallel torch operations; with the plain loop on the main thread, every later round
of ours paid that and the plain loop did not.

Two more figures per family: the time from the call to the end of the first step (a
reference), and the share of training time periodic evaluation takes at the default
``eval_max_tokens`` and ``eval_every_steps=250``, against a 3% budget (budget / share), with
the standard error of the sample's loss.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import torch
from torch import Tensor, nn
from torch.nn import functional

import common
import harness
import model_trainer as mt
from bench_gpt2_vs_minimal import MinimalGPT
from model_trainer.core.backends.char_lstm import CHAR_LSTM_SIZES
from model_trainer.core.backends.gpt2 import GPT2_SIZES
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.data.corpus import builtin_text, split_text
from model_trainer.core.events.codec import Event
from model_trainer.core.events.sinks import CallbackSink
from model_trainer.core.events.trainer_metrics_events import is_epoch, is_eval, is_progress_metrics
from model_trainer.core.training.dataset import TokenWindows, epoch_length
from model_trainer.core.training.evaluate import evaluate_loss, sample_windows
from model_trainer.core.training.optimizer import make_optimizer
from model_trainer.core.training.schedule import lr_at

TARGET = 1.0
EVAL_BUDGET = 0.03
SHARE_EVAL_EVERY = 250
SHARE_STEPS = 10
WARMUP_STEPS = 20
WEIGHT_DECAY = 0.01
GRAD_CLIP = 1.0
VAL_FRACTION = 0.1
DEFAULT_EVAL_TOKENS = train_config()["eval_max_tokens"]


class Race(TypedDict):
    """One family's race: model, batches, recipe, evaluation schedule and target loss.

    ``max_steps`` caps the one epoch (0: the whole epoch, 544 GPT-2 or 102 char-LSTM steps on
    the builtin text); the targets lie about halfway along the curve each side's loss follows.
    """

    family: str
    size: str
    seq_len: int
    batch_size: int
    learning_rate: float
    eval_every: int
    eval_tokens: int
    max_steps: int
    target: float


RACES: tuple[Race, ...] = (
    {
        "family": "gpt2",
        "size": "small",
        "seq_len": 64,
        "batch_size": 12,
        "learning_rate": 2e-3,
        "eval_every": 50,
        "eval_tokens": DEFAULT_EVAL_TOKENS,
        "max_steps": 0,
        "target": 2.6,
    },
    {
        "family": "char_lstm",
        "size": "small",
        "seq_len": 128,
        "batch_size": 32,
        "learning_rate": 3e-3,
        "eval_every": 25,
        "eval_tokens": DEFAULT_EVAL_TOKENS,
        "max_steps": 0,
        "target": 3.0,
    },
)
QUICK_RACES: tuple[Race, ...] = tuple(
    {
        **race,
        "size": "tiny",
        "seq_len": 16,
        "batch_size": 4,
        "learning_rate": 1e-2,
        "eval_every": 5,
        "eval_tokens": 256,
        "max_steps": 30,
        "target": 3.6,
    }
    for race in RACES
)


class PlainLSTM(nn.Module):
    """Embedding, a ``batch_first`` LSTM and a linear head: the char-LSTM's layers, written out."""

    def __init__(self, size: str, vocab_size: int) -> None:
        super().__init__()
        shape = CHAR_LSTM_SIZES[size]
        self.embed = nn.Embedding(vocab_size, shape["embed_dim"])
        self.lstm = nn.LSTM(
            shape["embed_dim"], shape["hidden_dim"], shape["num_layers"], batch_first=True
        )
        self.head = nn.Linear(shape["hidden_dim"], vocab_size)

    def forward(self, ids: Tensor) -> Tensor:
        out, _ = self.lstm(self.embed(ids))  # (B, T, H)
        logits: Tensor = self.head(out)  # (B, T, V)
        return logits


def ours(race: Race, corpus: str, runs: str, *, until: Callable[[Event], bool]) -> float:
    """Seconds from ``mt.train`` to the first event ``until`` accepts (or to the run's end)."""
    hit = threading.Event()
    start = time.perf_counter()
    seen: list[float] = []

    def watch(event: Event) -> None:
        if not hit.is_set() and until(event):
            seen.append(time.perf_counter() - start)
            hit.set()

    job = mt.train(
        model_family=race["family"],
        model_size=race["size"],
        corpus_path=corpus,
        max_seq_len=race["seq_len"],
        batch_size=race["batch_size"],
        learning_rate=race["learning_rate"],
        warmup_steps=WARMUP_STEPS,
        weight_decay=WEIGHT_DECAY,
        grad_clip=GRAD_CLIP,
        val_fraction=VAL_FRACTION,
        num_epochs=1,
        max_steps_per_epoch=race["max_steps"],
        eval_every_steps=race["eval_every"],
        eval_max_tokens=race["eval_tokens"],
        device="cpu",
        precision="fp32",
        runs_dir=runs,
        show=False,
        sinks=[CallbackSink(watch)],
    )
    while not hit.wait(0.01) and not job.done():
        pass
    job.cancel()
    job.result()
    if not seen:
        print(f"ours ({race['family']}) never got there", file=sys.stderr)
    return seen[0] if seen else time.perf_counter() - start


def at_target(race: Race) -> Callable[[Event], bool]:
    """Accepts a mid-epoch or epoch-end evaluation at or under ``race``'s target."""

    def check(event: Event) -> bool:
        loss = event["val_loss"] if is_eval(event) or is_epoch(event) else None
        return loss is not None and loss <= race["target"]

    return check


def first_step(event: Event) -> bool:
    """Accepts the first reading (with a reading after every step: the first step)."""
    return is_progress_metrics(event)


def plain(race: Race, corpus: str, *, stop_at_first_step: bool = False) -> float:
    """Seconds the plain loop takes from reading the text to its first evaluation at target."""
    start = time.perf_counter()
    text = Path(corpus).read_text(encoding="utf-8")
    train_text, val_text = split_text(text, VAL_FRACTION)
    vocab = {char: index for index, char in enumerate(sorted(set(text)))}
    train_ids = torch.tensor([vocab[c] for c in train_text], dtype=torch.long)
    val_ids = torch.tensor([vocab[c] for c in val_text], dtype=torch.long)
    torch.manual_seed(0)
    model: nn.Module = (
        MinimalGPT(GPT2_SIZES[race["size"]], vocab_size=len(vocab), context=race["seq_len"])
        if race["family"] == "gpt2"
        else PlainLSTM(race["size"], len(vocab))
    )
    optimizer = make_optimizer(
        model.parameters(), lr=race["learning_rate"], weight_decay=WEIGHT_DECAY, device="cpu"
    )
    seq_len, batch_size = race["seq_len"], race["batch_size"]
    train = TokenWindows(train_ids, seq_len=seq_len, batch_size=batch_size, seed=0)
    val = TokenWindows(val_ids, seq_len=seq_len, batch_size=batch_size, seed=0, shuffle=False)
    eval_batches = list(
        val.batches(0, 0, -(-race["eval_tokens"] // (val.batch_size * val.seq_len)))
    )
    steps = epoch_length(train.steps_per_epoch, race["max_steps"])
    model.train()
    for step, (inputs, targets) in enumerate(train.batches(0, 0, steps), start=1):
        lr = lr_at(
            step - 1,
            base_lr=race["learning_rate"],
            warmup_steps=WARMUP_STEPS,
            total_steps=steps,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits: Tensor = model(inputs)  # (B, T, V)
        loss = functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if stop_at_first_step:
            return time.perf_counter() - start
        due = step % race["eval_every"] == 0 or step == steps
        if due and plain_eval(model, eval_batches) <= race["target"]:
            return time.perf_counter() - start
    print(f"plain ({race['family']}) never got there", file=sys.stderr)
    return time.perf_counter() - start


def plain_eval(model: nn.Module, batches: list[tuple[Tensor, Tensor]]) -> float:
    """Mean validation loss over ``batches`` (nanoGPT's ``estimate_loss``)."""
    model.eval()
    with torch.no_grad():
        losses = [
            functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in batches
        ]
    model.train()
    return sum(losses) / len(losses)


def eval_share(race: Race) -> tuple[float, float, float, float]:
    """Evaluation's share of training time with the default sample and with the whole split.

    Also the sample's standard error (nats) and how far its loss lies from the whole split's.
    """
    shape: common.Shape = {
        "size": race["size"],
        "seq_len": race["seq_len"],
        "batch_size": race["batch_size"],
        "steps": SHARE_STEPS,
    }
    model = common.prepared(race["family"], shape)["model"]
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch module, got {type(model).__name__}")
    _, val_text = split_text(builtin_text(), VAL_FRACTION)
    val_ids = torch.tensor(common.char_tokenizer().encode(val_text), dtype=torch.long)
    val = TokenWindows(
        val_ids, seq_len=race["seq_len"], batch_size=race["batch_size"], seed=0, shuffle=False
    )
    side = common.Side(model)
    data = common.batches(shape)
    step_s = harness.seconds(lambda: common.plain_steps(model, side.optimizer, data)) / len(data)
    chosen = sample_windows(val, race["eval_tokens"])
    sample_s = harness.seconds(lambda: evaluate_loss(model, val, "cpu", "fp32", chosen))
    whole_s = harness.seconds(lambda: evaluate_loss(model, val, "cpu", "fp32"))
    train_s = SHARE_EVAL_EVERY * step_s
    sample_loss, _ = evaluate_loss(model, val, "cpu", "fp32", chosen)
    whole_loss, _ = evaluate_loss(model, val, "cpu", "fp32")
    return (
        sample_s / train_s,
        whole_s / train_s,
        standard_error(model, val, chosen),
        abs(sample_loss - whole_loss),
    )


def standard_error(model: nn.Module, val: TokenWindows, chosen: Tensor) -> float:
    """Standard error of the mean loss over the windows ``chosen`` (a sample without repeats)."""
    rows = val.ids[chosen[:, None] * val.seq_len + torch.arange(val.seq_len + 1)]  # (W, T + 1)
    with torch.inference_mode():
        logits = model(rows[:, :-1])  # (W, T, V)
        per_token = functional.cross_entropy(
            logits.flatten(0, 1), rows[:, 1:].flatten(), reduction="none"
        )
    per_window = per_token.view(len(chosen), val.seq_len).mean(dim=1)  # (W,)
    count = len(chosen)
    if count < 2:
        return 0.0
    spread = per_window.std().item() / math.sqrt(count)
    return spread * math.sqrt(max(1.0 - count / val.num_windows, 0.0))


def off_main(work: Callable[[], float]) -> float:
    """``work`` run on a fresh thread, as ``mt.train`` runs a run; its result."""
    out: list[float] = []
    thread = threading.Thread(target=lambda: out.append(work()), name="plain-loop")
    thread.start()
    thread.join()
    return out[0]


def race_figures(race: Race, corpus: str, runs: str, rounds: int) -> None:
    """Print ``race``'s four figures."""
    name = f"{race['family']}_{race['size']}"
    mine, base = harness.alternate(
        lambda: ours(race, corpus, runs, until=at_target(race)),
        lambda: off_main(lambda: plain(race, corpus)),
        rounds=rounds,
        warmup=0,
    )
    harness.emit(
        harness.figure(
            f"time_to_loss_{name}_vs_plain_loop",
            mine,
            base,
            unit="s",
            target=TARGET,
            higher_is_better=False,
        )
    )
    # A reading after every step: the first reading marks the end of the first step.
    os.environ["MODEL_TRAINER_PROGRESS_INTERVAL_S"] = "0"
    mine, base = harness.alternate(
        lambda: ours(race, corpus, runs, until=first_step),
        lambda: off_main(lambda: plain(race, corpus, stop_at_first_step=True)),
        rounds=rounds,
        warmup=0,
    )
    del os.environ["MODEL_TRAINER_PROGRESS_INTERVAL_S"]
    harness.emit(
        harness.figure(
            f"call_to_first_step_{name}_vs_plain_loop",
            mine,
            base,
            unit="s",
            target=0.0,
            higher_is_better=False,
        )
    )
    share, whole, error, miss = eval_share(race)
    print(
        f"{name}: evaluation every {SHARE_EVAL_EVERY} steps takes {share:.2%} of training "
        f"time with eval_max_tokens={race['eval_tokens']} ({whole:.2%} over the whole "
        f"split); standard error {error:.4f} nats, sample vs whole split {miss:.4f} nats",
        file=sys.stderr,
    )
    harness.emit(
        {
            "name": f"eval_share_{name}_default_sample",
            "ours": round(share, 5),
            "baseline": round(whole, 5),
            "unit": "share of training time",
            "ratio": round(EVAL_BUDGET / share, 4),
            "target": 1.0,
            "rounds": 1,
            "ours_spread": 0.0,
            "baseline_spread": 0.0,
        }
    )
    harness.emit(
        {
            "name": f"eval_sample_standard_error_{name}",
            "ours": round(error, 5),
            "baseline": round(miss, 5),
            "unit": "nats",
            "ratio": round(miss / error, 4) if error else 0.0,
            "target": 0.0,
            "rounds": 1,
            "ours_spread": 0.0,
            "baseline_spread": 0.0,
        }
    )


def main() -> None:
    parser = harness.make_parser(__doc__ or "")
    parser.set_defaults(rounds=3)
    opts = harness.start(parser.parse_args())
    with tempfile.TemporaryDirectory() as folder:
        corpus = os.path.join(folder, "text.txt")
        Path(corpus).write_text(builtin_text(), encoding="utf-8")
        for race in QUICK_RACES if opts["quick"] else RACES:
            race_figures(race, corpus, os.path.join(folder, "runs"), opts["rounds"])


if __name__ == "__main__":
    main()

"""Our ``run_training`` against Hugging Face's ``Trainer``: the same GPT-2, batch and corpus.

Each round trains the one model for the same number of steps with each side in turn. The
Trainer is set up as the issue says: ``report_to="none"``, ``logging_steps=50``, no eval, no
saving, ``use_cpu=True``, ``dataloader_num_workers=0``; its progress bar is off (ours has
none either) and what it prints goes to standard error, so standard output stays JSON.

Two figures: the steady state (steps 2..N, timed from each side's step-start hook: our
``cancelled`` check, the Trainer's ``on_step_begin``) and the whole call, setup included
(ours: ``run_training``, which reads and encodes the corpus and writes a checkpoint at the
epoch end; theirs: encoding the corpus, ``TrainingArguments``, ``Trainer`` and ``train``).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time

from torch import Tensor
from torch.utils.data import Dataset
from transformers import (
    GPT2LMHeadModel,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

import common
import harness
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig, PreparedLMModel, TrainingCallbacks
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.training.dataset import TokenWindows, encode_corpus, encode_data
from model_trainer.core.training.loop import run_training

TARGET = 1.0
LR = 1e-3
WEIGHT_DECAY = 0.01
STEPS = 60
QUICK_STEPS = 3


class Stamps:
    """Wall-clock times at which steps started."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def mark(self) -> None:
        """Record the start of a step."""
        self.times.append(time.perf_counter())

    def steady_rate(self, tokens_per_step: int) -> float:
        """Tokens per second from the second step's start to the last one's."""
        steps = len(self.times) - 2
        return steps * tokens_per_step / (self.times[-1] - self.times[1])


class StepStamps(TrainerCallback):
    """A Trainer callback that stamps each step's start."""

    def __init__(self, stamps: Stamps) -> None:
        self.stamps = stamps

    def on_step_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: object,
    ) -> None:
        del args, state, control, kwargs
        self.stamps.mark()


class Windows(Dataset[dict[str, Tensor]]):
    """Our training windows as the Trainer takes them: ``input_ids`` are also the labels."""

    def __init__(self, windows: TokenWindows) -> None:
        self.ids = windows.ids
        self.seq_len = windows.seq_len
        self.count = windows.num_windows

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        start = index * self.seq_len
        row = self.ids[start : start + self.seq_len]  # (T,)
        return {"input_ids": row, "labels": row}


def our_config(shape: common.Shape, steps: int) -> ModelTrainConfig:
    return train_config(
        model_family="gpt2",
        model_size=shape["size"],
        max_seq_len=shape["seq_len"],
        batch_size=shape["batch_size"],
        num_epochs=1,
        max_steps_per_epoch=steps,
        learning_rate=LR,
        weight_decay=WEIGHT_DECAY,
        val_fraction=0.0,
        device="cpu",
        precision="fp32",
    )


def ours(prepared: PreparedLMModel, cfg: ModelTrainConfig, stamps: Stamps) -> None:
    def cancelled() -> bool:
        stamps.mark()
        return False

    with tempfile.TemporaryDirectory() as run_dir:
        callbacks: TrainingCallbacks = {
            "heartbeat": lambda _: None,
            "cancelled": cancelled,
            "progress": None,
            "run": {
                "run_dir": run_dir,
                "resume": False,
                "data": encode_data(builtin_text(), "", prepared["tok_for_dataset"]),
                "settings": common.settings(),
            },
        }
        run_training(prepared, cfg, callbacks)


def theirs(hf: GPT2LMHeadModel, shape: common.Shape, steps: int, stamps: Stamps) -> None:
    tokenizer = common.char_tokenizer()
    windows = TokenWindows(
        encode_corpus(builtin_text(), tokenizer),
        seq_len=shape["seq_len"],
        batch_size=shape["batch_size"],
        seed=0,
    )
    hf_trainer_steps(
        hf, windows, steps=steps, learning_rate=LR, weight_decay=WEIGHT_DECAY, stamps=stamps
    )


def hf_trainer_steps(
    model: PreTrainedModel,
    windows: TokenWindows,
    *,
    steps: int,
    learning_rate: float,
    weight_decay: float,
    stamps: Stamps,
) -> None:
    """``steps`` of HF's ``Trainer`` on ``windows`` (no logging, eval, saving or workers)."""
    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(
            output_dir=out_dir,
            report_to="none",
            logging_steps=50,
            eval_strategy="no",
            save_strategy="no",
            use_cpu=True,
            dataloader_num_workers=0,
            disable_tqdm=True,
            max_steps=steps,
            per_device_train_batch_size=windows.batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
        )
        trainer = Trainer(
            model=model, args=args, train_dataset=Windows(windows), callbacks=[StepStamps(stamps)]
        )
        with contextlib.redirect_stdout(sys.stderr):
            trainer.train()


def main() -> None:
    opts = harness.parse_args(__doc__ or "")
    shape = common.gpt2_shape(opts["quick"])
    steps = QUICK_STEPS if opts["quick"] else STEPS
    prepared = common.prepared("gpt2", shape)
    model = prepared["model"]
    if not isinstance(model, GPT2LM):
        raise TypeError(f"expected a GPT2LM, got {type(model).__name__}")
    cfg = our_config(shape, steps)
    tokens_per_step = shape["batch_size"] * shape["seq_len"]
    steady: dict[str, list[float]] = {"ours": [], "theirs": []}

    def run_ours() -> float:
        stamps = Stamps()
        took = harness.seconds(lambda: ours(prepared, cfg, stamps))
        steady["ours"].append(stamps.steady_rate(tokens_per_step))
        return steps * tokens_per_step / took

    def run_theirs() -> float:
        stamps = Stamps()
        took = harness.seconds(lambda: theirs(model.hf, shape, steps, stamps))
        steady["theirs"].append(stamps.steady_rate(tokens_per_step))
        return steps * tokens_per_step / took

    harness.maybe_profile(opts, "ours", run_ours)
    harness.maybe_profile(opts, "hf trainer", run_theirs)
    whole_ours, whole_theirs = harness.alternate(run_ours, run_theirs, rounds=opts["rounds"])
    rounds = opts["rounds"]
    harness.emit(
        harness.figure(
            f"train_gpt2_{shape['size']}_vs_hf_trainer_steady",
            steady["ours"][-rounds:],
            steady["theirs"][-rounds:],
            unit="tokens/s",
            target=TARGET,
        )
    )
    harness.emit(
        harness.figure(
            f"train_gpt2_{shape['size']}_vs_hf_trainer_whole_call",
            whole_ours,
            whole_theirs,
            unit="tokens/s",
            target=TARGET,
        )
    )


if __name__ == "__main__":
    main()

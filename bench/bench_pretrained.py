"""A pretrained-shape model loaded with ``load_model``: scoring, sampling and a fine-tuning step.

A GPT-2-shaped checkpoint (random weights, a byte-level BPE trained on the builtin corpus) is
saved with ``save_pretrained`` and loaded as any Hugging Face model is. The figures:

- per-character scoring (``score`` with ``detail_level="per_char"``) against a plain HF
  forward pass over the very same windows and batches (target 0.9: ours also ranks, spreads
  and keeps every character's figures);
- cached sampling (our ``generate``) against HF ``generate`` with the same settings, both
  writing exactly the same number of tokens (eos is never sampled: ours is given an eos id
  outside the vocabulary, HF ``min_new_tokens``);
- character probabilities (beam 1, target 0.8; beam 4 quoted) against the even spread
  (``bench_score.char_probability_figures``; ``--char-probs-only`` measures just these);
- fine-tuning steps (``run_training`` from the ``init_from`` start) against HF ``Trainer``
  on the same model, windows and batch (steady state, timed from each step's start).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TypedDict

import torch
from torch import Tensor
from transformers import AutoModelForCausalLM, PreTrainedModel

import common
import harness
from bench_hf_trainer import Stamps, hf_trainer_steps
from bench_score import char_probability_figures
from model_trainer.core.backends.dispatch import generate, score
from model_trainer.core.backends.hf_causal_lm.model import HFCausalLM
from model_trainer.core.backends.hf_causal_lm.tiny import save_tiny_checkpoint
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.backends.start import resolve_start
from model_trainer.core.contracts.defaults import generate_config, score_config, train_config
from model_trainer.core.contracts.model import ModelTrainConfig, PreparedLMModel, TrainingCallbacks
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.windows import plan_windows, windows_per_batch
from model_trainer.core.tokenizers.io import read_model_tokenizer
from model_trainer.core.tokenizers.pretrained import load_pretrained_tokenizer
from model_trainer.core.training.dataset import TokenWindows, encode_data
from model_trainer.core.training.loop import run_training

SCORE_TARGET = 0.9
GENERATE_TARGET = 1.0
TRAIN_TARGET = 1.0
TEMPERATURE = 0.8
TOP_K = 50
LR = 1e-3
PROMPT = slice(5000, 5060)


class Setup(TypedDict):
    """The checkpoint's shape and the work each figure measures."""

    width: int
    layers: int
    context: int
    vocab_size: int
    score_chars: int
    new_tokens: int
    seq_len: int
    batch_size: int
    steps: int


# GPT-2 small's proportions of body to head (about 6k FLOPs per vocabulary entry and token),
# at a size a CPU measures in minutes: the share of scoring's per-vocabulary work is real.
FULL: Setup = {
    "width": 384,
    "layers": 6,
    "context": 256,
    "vocab_size": 4096,
    "score_chars": 20_000,
    "new_tokens": 128,
    "seq_len": 128,
    "batch_size": 8,
    "steps": 20,
}
QUICK: Setup = {
    "width": 32,
    "layers": 2,
    "context": 64,
    "vocab_size": 320,
    "score_chars": 2_000,
    "new_tokens": 8,
    "seq_len": 16,
    "batch_size": 2,
    "steps": 3,
}


def plain_forward(model: PreTrainedModel, ids: Tensor, context: int, per_batch: int) -> int:
    """The HF forward passes over the windows scoring uses; returns the tokens scored."""
    inputs = ids[:-1]  # (N,)
    windows = plan_windows(inputs.shape[0], context)
    with torch.inference_mode():
        for first in range(0, len(windows), per_batch):
            group = windows[first : first + per_batch]
            batch = torch.stack([inputs[w["start"] : w["end"]] for w in group])  # (B, C)
            model(input_ids=batch, use_cache=False)
    return inputs.shape[0]


def score_figure(opts: harness.Options, setup: Setup, prepared: PreparedLMModel) -> None:
    text = builtin_text()[: setup["score_chars"]]
    cfg = score_config(text=text, detail_level="per_char")
    settings = common.settings()
    hf = model_as(prepared, HFCausalLM).hf
    ids = torch.tensor([prepared["start_id"], *prepared["tokenizer"].encode(text)])
    context = prepared["max_seq_len"]
    per_batch = windows_per_batch(context, prepared["tokenizer"].vocab_size, accelerator=False)

    def ours() -> float:
        return harness.rate(lambda: score(prepared, cfg, settings)["num_tokens"])

    def theirs() -> float:
        return harness.rate(lambda: plain_forward(hf, ids, context, per_batch))

    harness.maybe_profile(opts, "score ours", ours)
    harness.maybe_profile(opts, "score hf forward", theirs)
    mine, base = harness.alternate(ours, theirs, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"pretrained_score_per_char_ctx{context}_vs_hf_forward",
            mine,
            base,
            unit="tokens/s",
            target=SCORE_TARGET,
        )
    )


def generate_figure(
    opts: harness.Options, setup: Setup, prepared: PreparedLMModel, folder: str
) -> None:
    new_tokens = setup["new_tokens"]
    prompt = builtin_text()[PROMPT]
    cfg = generate_config(
        prompt_text=prompt,
        max_new_tokens=new_tokens,
        temperature=TEMPERATURE,
        top_k=TOP_K,
        seed=0,
    )
    endless: PreparedLMModel = {**prepared, "eos_id": -1}
    settings = common.settings()
    hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)  # the same weights
    ids = torch.tensor([[prepared["start_id"], *prepared["tokenizer"].encode(prompt)]])

    def ours() -> float:
        def work() -> int:
            tokens = generate(endless, cfg, settings)["sequences"][0]["tokens"]
            if len(tokens) != new_tokens:
                raise RuntimeError(f"wrote {len(tokens)} tokens, expected {new_tokens}")
            return new_tokens

        return harness.rate(work)

    def theirs() -> float:
        def work() -> int:
            out: Tensor = hf.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=True,
                temperature=TEMPERATURE,
                top_k=TOP_K,
                top_p=1.0,
                pad_token_id=prepared["pad_id"],
            )
            return out.shape[1] - ids.shape[1]

        return harness.rate(work)

    harness.maybe_profile(opts, "generate ours", ours)
    harness.maybe_profile(opts, "generate hf", theirs)
    mine, base = harness.alternate(ours, theirs, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            f"pretrained_generate_{new_tokens}_tokens_vs_hf_generate",
            mine,
            base,
            unit="tokens/s",
            target=GENERATE_TARGET,
        )
    )


def fine_tune_config(folder: str, setup: Setup) -> ModelTrainConfig:
    return resolve_start(
        train_config(
            max_seq_len=setup["seq_len"],
            batch_size=setup["batch_size"],
            num_epochs=1,
            max_steps_per_epoch=setup["steps"],
            learning_rate=LR,
            val_fraction=0.0,
            device="cpu",
            precision="fp32",
        )
        | {"init_from": folder},
        default_registry,
    )


def train_figure(opts: harness.Options, setup: Setup, folder: str) -> None:
    cfg = fine_tune_config(folder, setup)
    tokenizer = load_pretrained_tokenizer(folder)
    backend = default_registry.get("hf_causal_lm")
    data = encode_data(builtin_text(), "", tokenizer)
    tokens_per_step = setup["batch_size"] * setup["seq_len"]
    steady: dict[str, list[float]] = {"ours": [], "theirs": []}

    def ours() -> float:
        stamps = Stamps()
        prepared = backend.prepare(cfg, common.settings(), tokenizer=tokenizer)

        def cancelled() -> bool:
            stamps.mark()
            return False

        with tempfile.TemporaryDirectory() as run_dir:
            callbacks: TrainingCallbacks = {
                "heartbeat": common.nothing,
                "cancelled": cancelled,
                "progress": None,
                "run": {
                    "run_dir": run_dir,
                    "resume": False,
                    "data": data,
                    "settings": common.settings(),
                },
            }
            run_training(prepared, cfg, callbacks)
        steady["ours"].append(stamps.steady_rate(tokens_per_step))
        return steady["ours"][-1]

    def theirs() -> float:
        stamps = Stamps()
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        windows = TokenWindows(
            data["train_ids"], seq_len=setup["seq_len"], batch_size=setup["batch_size"], seed=0
        )
        hf_trainer_steps(
            model,
            windows,
            steps=setup["steps"],
            learning_rate=LR,
            weight_decay=0.0,  # Trainer's default
            stamps=stamps,
        )
        steady["theirs"].append(stamps.steady_rate(tokens_per_step))
        return steady["theirs"][-1]

    harness.maybe_profile(opts, "fine-tune ours", ours)
    harness.maybe_profile(opts, "fine-tune hf trainer", theirs)
    mine, base = harness.alternate(ours, theirs, rounds=opts["rounds"])
    harness.emit(
        harness.figure(
            "pretrained_fine_tune_step_vs_hf_trainer",
            mine,
            base,
            unit="tokens/s",
            target=TRAIN_TARGET,
        )
    )


def main() -> None:
    parser = harness.make_parser(__doc__ or "")
    parser.add_argument(
        "--char-probs-only",
        action="store_true",
        help="only character probabilities against the even spread (beam 1 and 4)",
    )
    args = parser.parse_args()
    opts = harness.start(args)
    only: bool = args.char_probs_only
    setup = QUICK if opts["quick"] else FULL
    with tempfile.TemporaryDirectory() as root:
        folder = save_tiny_checkpoint(
            str(Path(root) / "gpt2"),
            "gpt2",
            builtin_text(),
            vocab_size=setup["vocab_size"],
            width=setup["width"],
            layers=setup["layers"],
            context=setup["context"],
        )
        tokenizer = read_model_tokenizer(folder, "pretrained")
        prepared = default_registry.get("hf_causal_lm").load(
            folder, common.settings(), tokenizer=tokenizer
        )
        text = builtin_text()[: setup["score_chars"]]
        if only:
            char_probability_figures(opts, "pretrained_gpt2", prepared, text, "tokens/s")
            return
        score_figure(opts, setup, prepared)
        char_probability_figures(opts, "pretrained_gpt2", prepared, text, "tokens/s")
        generate_figure(opts, setup, prepared, folder)
        train_figure(opts, setup, folder)


if __name__ == "__main__":
    main()

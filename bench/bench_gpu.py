"""Training throughput and model FLOPs utilisation (MFU) of GPT-2 124M on a GPU.

With CUDA: the ``gpt2`` size (12 layers, 12 heads, 768 wide, 124M parameters), context 1024,
bf16 autocast, ``torch.compile`` and fused AdamW, trained by ``BaseTrainer`` on random ids.
Without CUDA (and always with ``--quick``): the ``tiny`` size on the CPU, fp32, no compile.

FLOPs per token follow PaLM (appendix B): ``6 N + 12 L H Q T``, with ``N`` the parameters
less the position embeddings (the tied head's matmul is counted through the token
embedding), ``L`` layers, ``H`` heads of width ``Q``, context ``T``. MFU is the achieved
FLOP/s over the chip's dense peak (``--peak-tflops``; default 989, an H100's or H200's dense
bf16, or on a CPU ``CPU_CORE_PEAK_TFLOPS`` per thread). The figure's ``ours`` is tokens per
second, its ``baseline`` the tokens per second at 100% MFU, so its ratio is the MFU. The
forward runs without a mask, so attention is SDPA's causal kernel (flash attention on the GPU).

A second figure trains the char-LSTM ``small`` (context 128, batch 32, the kit's precision
for the device) with cuDNN's LSTM against the same model with cuDNN switched off (ATen's own
LSTM kernels); on a GPU its ratio is cuDNN's speed-up and must be at least 1.
"""

from __future__ import annotations

import sys
from typing import Protocol, TypedDict

import torch

import common
import harness
from model_trainer.core.backends.char_lstm import CHAR_LSTM_SIZES
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.backends.gpt2 import GPT2_SIZES
from model_trainer.core.backends.gpt2.config import build_gpt2_config
from model_trainer.core.backends.gpt2.model import GPT2LM
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import LMModelProto
from model_trainer.core.training.dataset import TokenWindows
from model_trainer.core.training.device import ResolvedPrecision, resolve_precision
from model_trainer.core.training.distributed import Forward
from model_trainer.core.training.loop import BaseTrainer
from model_trainer.core.training.optimizer import make_optimizer
from model_trainer.core.training.schedule import build_scheduler

TARGET = 0.45
GPU_PEAK_TFLOPS = 989.0
# One core of this kind of CPU (AVX2, two 256-bit FMA units, about 2.6 GHz): 2 x 8 x 2 x 2.6e9.
CPU_CORE_PEAK_TFLOPS = 0.083
GPT2_VOCAB = 50257


class _Probe(Protocol):
    def __call__(self) -> object: ...


class Setup(TypedDict):
    """What one run trains, and on what."""

    size: str
    context: int
    batch_size: int
    steps: int
    vocab_size: int
    device: str
    precision: ResolvedPrecision
    compile: bool
    peak_tflops: float


GPU_SETUP: Setup = {
    "size": "gpt2",
    "context": 1024,
    "batch_size": 16,
    "steps": 20,
    "vocab_size": GPT2_VOCAB,
    "device": "cuda",
    "precision": "bf16",
    "compile": True,
    "peak_tflops": GPU_PEAK_TFLOPS,
}
CPU_SETUP: Setup = {
    "size": "tiny",
    "context": 256,
    "batch_size": 8,
    "steps": 10,
    "vocab_size": 512,
    "device": "cpu",
    "precision": "fp32",
    "compile": False,
    "peak_tflops": CPU_CORE_PEAK_TFLOPS * harness.FULL_THREADS,
}
QUICK_SETUP: Setup = {
    **CPU_SETUP,
    "context": 32,
    "batch_size": 2,
    "steps": 2,
    "peak_tflops": CPU_CORE_PEAK_TFLOPS * harness.QUICK_THREADS,
}


def flops_per_token(model: GPT2LM, context: int) -> float:
    """PaLM's training FLOPs per token: ``6 N + 12 L H Q T`` (``N`` without positions)."""
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    positions = model.hf.transformer.wpe.weight.numel()
    attention = 12 * config.n_layer * config.n_embd * context  # H * Q = n_embd
    return 6.0 * (params - positions) + attention


def choose_setup(*, quick: bool, cuda: bool, batch_size: int | None, peak: float | None) -> Setup:
    """The GPU setup with CUDA (not with ``quick``), else the CPU one; flags override."""
    setup: Setup = {**(QUICK_SETUP if quick else GPU_SETUP if cuda else CPU_SETUP)}
    if batch_size is not None:
        setup["batch_size"] = batch_size
    if peak is not None:
        setup["peak_tflops"] = peak
    return setup


def train_round(
    model: LMModelProto,
    forward: Forward,
    train: TokenWindows,
    *,
    steps: int,
    device: str,
    precision: ResolvedPrecision,
) -> harness.Measure:
    """A measure of ``steps`` steps of ``model`` on ``train`` through ``BaseTrainer``: tokens/s."""
    optimizer = make_optimizer(
        model.parameters(), lr=common.LR, weight_decay=common.WEIGHT_DECAY, device=device
    )
    scheduler = build_scheduler(
        optimizer, warmup_steps=common.WARMUP_STEPS, total_steps=common.SCHEDULE_STEPS
    )

    def one_round() -> int:
        epochs = BaseTrainer().train_epochs(
            model=model,
            forward=forward,
            optimizer=optimizer,
            scheduler=scheduler,
            train=train,
            val=None,
            num_epochs=1,
            device=device,
            callbacks=common.IDLE_CALLBACKS,
            cfg=train_config(
                precision=precision, grad_clip=common.GRAD_CLIP, max_steps_per_epoch=steps
            ),
            options={"progress_interval_s": common.settings()["progress_interval_s"]},
        )
        for _ in epochs:
            pass
        if device == "cuda":
            torch.cuda.synchronize()
        return steps * train.batch_size * train.seq_len

    return lambda: harness.rate(one_round)


def lstm_figure(opts: harness.Options, device: str) -> harness.Figure:
    """The char-LSTM with cuDNN against the same model without it, in tokens/s."""
    shape = common.lstm_shape(opts["quick"])
    model = CharLSTM(CHAR_LSTM_SIZES[shape["size"]], common.char_tokenizer().vocab_size)
    model.to(device)
    precision = resolve_precision("auto", device)
    measure = train_round(
        model,
        model,
        common.windows(shape),
        steps=shape["steps"],
        device=device,
        precision=precision,
    )
    available: _Probe = torch.backends.cudnn.is_available
    version: _Probe = torch.backends.cudnn.version
    print(
        f"char-LSTM on {device}: cuDNN available {available()}, version {version()}, "
        f"precision {precision}",
        file=sys.stderr,
    )

    def without_cudnn() -> float:
        with torch.backends.cudnn.flags(enabled=False):
            return measure()

    def with_cudnn() -> float:
        with torch.backends.cudnn.flags(enabled=True):
            return measure()

    mine, base = harness.alternate(with_cudnn, without_cudnn, rounds=opts["rounds"])
    return harness.figure(
        f"train_char_lstm_{shape['size']}_{device}_{precision}_cudnn_vs_without",
        mine,
        base,
        unit="tokens/s",
        target=1.0 if device == "cuda" else 0.0,
    )


def main() -> None:
    parser = harness.make_parser(__doc__ or "")
    parser.add_argument("--peak-tflops", type=float, help="the chip's dense peak in TFLOP/s")
    parser.add_argument("--batch-size", type=int, help="windows per batch")
    args = parser.parse_args()
    opts = harness.start(args)
    peak_flag: float | None = args.peak_tflops
    batch_flag: int | None = args.batch_size
    setup = choose_setup(
        quick=opts["quick"], cuda=torch.cuda.is_available(), batch_size=batch_flag, peak=peak_flag
    )
    device = setup["device"]
    if device == "cuda":
        torch.set_float32_matmul_precision("high")
    config = build_gpt2_config(
        GPT2_SIZES[setup["size"]],
        vocab_size=setup["vocab_size"],
        n_positions=setup["context"],
        eos_id=setup["vocab_size"] - 1,
    )
    model = GPT2LM.from_config(config).to(device)
    tokens_per_round = setup["steps"] * setup["batch_size"] * setup["context"]
    ids = torch.randint(0, setup["vocab_size"], (tokens_per_round + 1,))  # (N,)
    train = TokenWindows(ids, seq_len=setup["context"], batch_size=setup["batch_size"], seed=0)
    forward: Forward = torch.compile(model) if setup["compile"] else model
    measure = train_round(
        model, forward, train, steps=setup["steps"], device=device, precision=setup["precision"]
    )
    harness.maybe_profile(opts, f"{setup['size']} {device}", measure)
    rates = harness.repeat(measure, rounds=opts["rounds"])
    peak_tokens = setup["peak_tflops"] * 1e12 / flops_per_token(model, setup["context"])
    compile_tag = "_compiled" if setup["compile"] else ""
    harness.emit(
        harness.figure(
            f"train_gpt2_{setup['size']}_ctx{setup['context']}_{device}_{setup['precision']}"
            f"{compile_tag}_mfu",
            rates,
            [peak_tokens] * len(rates),
            unit="tokens/s",
            target=TARGET,
        )
    )
    harness.emit(lstm_figure(opts, device))


if __name__ == "__main__":
    main()

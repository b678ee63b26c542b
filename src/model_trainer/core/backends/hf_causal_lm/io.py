"""Load a pretrained causal LM from a folder or the HF cache, checked before anything loads.

Every check runs on the files first (a model config, safetensors weights, a causal LM, a
fast tokenizer, room in memory), then the weights are read onto the CPU and only then moved
to the device: a refused model never reaches the GPU. Weights are read from safetensors
only; nothing is unpickled.

Typed surface of ``transformers`` used here: ``AutoConfig`` and
``AutoModelForCausalLM.from_pretrained``, the causal-LM
architecture names, ``save_pretrained``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from model_trainer.core.backends.artifact import ArtifactMeta, prepared_model
from model_trainer.core.backends.hf_causal_lm import FAMILY, SIZE
from model_trainer.core.backends.hf_causal_lm.model import HFCausalLM, quiet_progress
from model_trainer.core.contracts.model import DeviceName, ModelArtifact, Precision, PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.faults import writing
from model_trainer.core.tokenizers.pretrained import (
    PretrainedTokenizer,
    load_pretrained_tokenizer,
    pretrained_folder,
)
from model_trainer.core.training.device import available_device

CONFIG_FILE: Final = "config.json"
META_FILE: Final = "model_trainer.json"
PICKLED: Final = ("*.bin", "*.pt", "*.pth", "*.ckpt")
CONTEXT_KEYS: Final = ("max_position_embeddings", "n_positions", "n_ctx")
MAX_CONTEXT: Final = 4096
DTYPES: Final = {"fp32": torch.float32, "bf16": torch.bfloat16}


def pick_precision(precision: Precision, device: str, *, bf16_ok: bool) -> str:
    """``auto``: bf16 on a CUDA device that supports it, else fp32; otherwise as asked."""
    if precision == "auto":
        return "bf16" if device.startswith("cuda") and bf16_ok else "fp32"
    return precision


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of ``folder``.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` when the weights are only in a pickled
            format; ``MODEL_NOT_FOUND`` when there are no weights at all.
    """
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return files
    pickled = sorted(p.name for pattern in PICKLED for p in folder.glob(pattern))
    if pickled:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED",
            f"weights: {str(folder)!r} holds only {', '.join(pickled)}, which would need "
            "unpickling; convert them once in a trusted session with "
            "AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder) "
            "(it writes model.safetensors)",
        )
    raise ModelTrainerError(
        "MODEL_NOT_FOUND", f"weights: {str(folder)!r} holds no *.safetensors weights"
    )


def count_parameters(files: list[Path]) -> int:
    """Number of weights in the safetensors ``files``, read from their headers.

    Raises:
        ModelTrainerError: ``MODEL_LOAD_FAILED`` for a file that is not safetensors.
    """
    total = 0
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as handle:
                names: list[str] = handle.keys()
                total += sum(math.prod(handle.get_slice(name).get_shape()) for name in names)
        except SafetensorError as exc:
            raise ModelTrainerError(
                "MODEL_LOAD_FAILED", f"weights: cannot read {str(file)!r} ({exc})"
            ) from exc
    return total


def free_bytes(
    device: str, *, gpu_free: Callable[[torch.device], tuple[int, int]] = torch.cuda.mem_get_info
) -> int:
    """Memory free on ``device``: the GPU's free memory, or the host's available memory."""
    if device.startswith("cuda"):
        free, _ = gpu_free(torch.device(device))
        return free
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(need: int, free: int, *, source: str, device: str, precision: str) -> None:
    """Refuse a model needing ``need`` bytes where ``free`` are free.

    Raises:
        ModelTrainerError: ``CUDA_OOM`` on a GPU, ``MODEL_LOAD_FAILED`` on the host, saying
            how much is needed and what to try.
    """
    if need <= free:
        return
    gib = 1 << 30
    raise ModelTrainerError(
        "CUDA_OOM" if device.startswith("cuda") else "MODEL_LOAD_FAILED",
        f"source: {source!r} needs about {need / gib:.1f} GiB in {precision} on {device}, "
        f"{free / gib:.1f} GiB are free; try dtype='bf16', another device, or a smaller model",
    )


def _config(folder: Path, source: str) -> PretrainedConfig:
    if not (folder / CONFIG_FILE).is_file():
        raise ModelTrainerError(
            "MODEL_NOT_FOUND",
            f"source: {str(folder)!r} holds no {CONFIG_FILE}, so it is not a Hugging Face "
            "model folder; give the folder model.save_pretrained wrote",
        )
    try:
        config: PretrainedConfig = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED", f"source: cannot read the config of {source!r} ({exc})"
        ) from exc
    return config


def check_causal(config: PretrainedConfig, source: str) -> None:
    """Refuse a model that is not a decoder-only causal LM (an encoder, a seq2seq model).

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` naming the model type and architecture.
    """
    kind = config.model_type
    names = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    architectures = config.architectures or []
    causal = (
        kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and not config.is_encoder_decoder
        and all(name in names for name in architectures)
    )
    if not causal:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"source: {source!r} is a {kind!r} model ({', '.join(architectures) or 'no'} "
            "architecture), not a decoder-only causal LM; load a model such as gpt2, Pythia "
            "or Llama",
        )


def model_context(config: PretrainedConfig) -> int | None:
    """The longest sequence the model's positions allow, or None when its config says none."""
    found = [value for key in CONTEXT_KEYS if isinstance(value := config.to_dict().get(key), int)]
    return found[0] if found else None


def load_pretrained(
    source: str,
    *,
    device: DeviceName = "auto",
    dtype: Precision = "auto",
    local_files_only: bool = True,
    max_seq_len: int | None = None,
    tokenizer: TokenizerHandle | None = None,
) -> PreparedLMModel:
    """Load the causal LM at ``source`` (a folder, or a model id in the HF cache).

    ``max_seq_len`` (default: the model's context, at most ``MAX_CONTEXT``) is the window
    texts are scored in. ``dtype`` ``auto`` is bf16 on a GPU that supports it, else fp32.
    ``tokenizer`` is the folder's own, already read (default: read here).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such folder or cached model, no config,
            no weights), ``MODEL_LOAD_FAILED`` (pickled weights only, unreadable files, too
            big for the host), ``MODEL_INCOMPATIBLE`` (not a causal LM, a tokenizer larger
            than the model's vocabulary), ``TOKENIZER_LOAD_FAILED`` (no fast tokenizer),
            ``CUDA_OOM`` (too big for the GPU), ``CUDA_NOT_AVAILABLE``, ``INVALID_CONFIG``
            (a bad ``max_seq_len``); ``MODEL_INCOMPATIBLE`` when ``tokenizer`` is not a
            pretrained model's.
    """
    target = available_device(device)
    folder = pretrained_folder(source, local_files_only=local_files_only)
    config = _config(folder, source)
    check_causal(config, source)
    files = weight_files(folder)
    if tokenizer is None:
        tokenizer = load_pretrained_tokenizer(str(folder))
    if not isinstance(tokenizer, PretrainedTokenizer):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"tokenizer: {FAMILY} models read their own pretrained tokenizer, got a "
            f"{tokenizer.kind} one for {source!r}",
        )
    vocab = config.to_dict().get("vocab_size")
    if isinstance(vocab, int) and tokenizer.vocab_size > vocab:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"vocab_size: the tokenizer of {source!r} has {tokenizer.vocab_size} ids, the "
            f"model only {vocab}",
        )
    context = model_context(config)
    longest = min(context or MAX_CONTEXT, MAX_CONTEXT)
    window = longest if max_seq_len is None else max_seq_len
    if window < 1 or (context is not None and window > context):
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"max_seq_len must be in [1, {context}] for {source!r}, got {max_seq_len}",
        )
    bf16_ok = target.startswith("cuda") and torch.cuda.is_bf16_supported()
    precision = pick_precision(dtype, target, bf16_ok=bf16_ok)
    element = torch.tensor([], dtype=DTYPES[precision]).element_size()
    need = count_parameters(files) * element
    check_fits(need, free_bytes(target), source=source, device=target, precision=precision)
    quiet_progress()
    model = _read_model(folder, source, precision, tokenizer.bos_id)
    meta: ArtifactMeta = {
        "model_family": FAMILY,
        "model_size": SIZE,
        "max_seq_len": window,
        "tokenizer_id": tokenizer.tokenizer_id,
        "tokenizer_kind": tokenizer.kind,
    }
    prepared = prepared_model(model=model.to(target), meta=meta, tokenizer=tokenizer, device=target)
    prepared["start_id"] = model.start_id
    return prepared


def _read_model(folder: Path, source: str, precision: str, start_id: int) -> HFCausalLM:
    try:
        hf = AutoModelForCausalLM.from_pretrained(
            str(folder),
            local_files_only=True,
            use_safetensors=True,
            dtype=DTYPES[precision],
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED", f"source: cannot load the weights of {source!r} ({exc})"
        ) from exc
    return HFCausalLM(hf, start_id)


def save_pretrained_model(
    prepared: PreparedLMModel, out_dir: str, *, meta: dict[str, object]
) -> ModelArtifact:
    """Write ``prepared`` to ``out_dir`` as a Hugging Face folder (model and tokenizer).

    ``meta`` is written beside it as ``model_trainer.json``.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when ``prepared`` holds no ``HFCausalLM``
            or no pretrained tokenizer.
    """
    model = prepared["model"]
    tokenizer = prepared["tokenizer"]
    if not isinstance(model, HFCausalLM) or not isinstance(tokenizer, PretrainedTokenizer):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"model: {FAMILY} saves an HFCausalLM with its pretrained tokenizer, got "
            f"{type(model).__name__} and {type(tokenizer).__name__}",
        )
    folder = Path(out_dir)
    with writing(folder, RuntimeError, SafetensorError):
        folder.mkdir(parents=True, exist_ok=True)
        model.hf.save_pretrained(str(folder))
        tokenizer.hf.save_pretrained(str(folder))
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {
        "path": str(folder),
        "model_family": FAMILY,
        "model_size": SIZE,
        "tokenizer_path": str(folder / "tokenizer.json"),
    }

"""Save and load GPT-2 as a Hugging Face model folder plus our tokenizer and metadata.

The folder loads with ``transformers.AutoModelForCausalLM.from_pretrained`` as it is:
``config.json`` and ``model.safetensors`` are Hugging Face's own; ``tokenizer.json`` is our
tokenizer and ``model_trainer.json`` says which family, size and tokenizer the model has.
"""

from __future__ import annotations

from typing import Protocol

from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError
from transformers import GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from model_trainer.core.backends.artifact import (
    WEIGHTS_FILE,
    artifact_meta,
    check_tokenizer,
    prepared_model,
    read_meta,
    require_files,
    write_artifact,
)
from model_trainer.core.backends.gpt2.model import ATTENTION, GPT2LM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelArtifact, PreparedLMModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.tokenizers.io import TOKENIZER_FILE
from model_trainer.core.training.device import available_device


class _Switch(Protocol):
    def __call__(self) -> None: ...


# Saving and loading a local folder takes milliseconds: no progress bars on every call.
_disable_progress_bars: _Switch = hf_logging.disable_progress_bar
_disable_progress_bars()

FAMILY = "gpt2"
META_FILE = "model_trainer.json"
CONFIG_FILE = "config.json"


def save_gpt2(prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
    """Write ``prepared`` to ``out_dir`` as a Hugging Face folder with our tokenizer.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when ``prepared`` holds no ``GPT2LM``.
    """
    model = prepared["model"]
    if not isinstance(model, GPT2LM):
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"model: save_gpt2 needs a GPT2LM, got {type(model).__name__}",
        )
    model.hf.save_pretrained(out_dir)
    return write_artifact(prepared, out_dir, meta_file=META_FILE, meta=artifact_meta(prepared))


def load_gpt2(
    artifact_path: str, settings: Settings, tokenizer: TokenizerHandle
) -> PreparedLMModel:
    """Read a folder written by ``save_gpt2``, onto the fastest device present.

    ``tokenizer`` is the folder's (``read_model_tokenizer``); ``settings`` is part of the
    backend signature, nothing here depends on it.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` for a missing folder or file;
            ``MODEL_LOAD_FAILED`` for corrupt JSON or weights; ``MODEL_INCOMPATIBLE`` when
            the tokenizer is not the model's or the folder holds another family.
    """
    del settings
    folder = require_files(artifact_path, (CONFIG_FILE, WEIGHTS_FILE, META_FILE, TOKENIZER_FILE))
    _, meta = read_meta(folder, META_FILE, FAMILY)
    try:
        hf = GPT2LMHeadModel.from_pretrained(str(folder), attn_implementation=ATTENTION)
    except (OSError, SafetensorError, StrictDataclassError, RuntimeError) as exc:
        raise ModelTrainerError(
            "MODEL_LOAD_FAILED", f"artifact_path: cannot load the model in {artifact_path!r}: {exc}"
        ) from exc
    check_tokenizer(folder, meta, hf.config.vocab_size, tokenizer)
    device = available_device("auto")
    model = GPT2LM(hf).to(device)
    return prepared_model(model=model, meta=meta, tokenizer=tokenizer, device=device)

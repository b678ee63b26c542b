"""LoRA adapters through ``peft`` (an optional extra): added for training, merged to save.

The adapters of rank ``r`` go on every linear layer (``all-linear``), scaled by
``alpha = 2 r``; the base weights are frozen, so only the adapters reach the optimizer.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Final

from transformers.pytorch_utils import Conv1D

from model_trainer.core.backends.hf_causal_lm.model import Adapter, HFCausalLM
from model_trainer.core.errors import ModelTrainerError

ADAPTER_DIR: Final = "adapter"


def require_peft(find: Callable[[str], object | None] = importlib.util.find_spec) -> None:
    """Refuse LoRA when ``peft`` is not installed (``find`` looks a module up).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` saying how to install it.
    """
    if find("peft") is None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            "lora_rank > 0 needs the peft package: pip install 'model-trainer[peft]' "
            "(or lora_rank=0 to train every weight)",
        )


def add_lora(model: HFCausalLM, rank: int) -> None:
    """Wrap ``model.hf`` with LoRA adapters of ``rank`` on every linear layer, in place."""
    require_peft()
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
        # GPT-2's layers are Conv1D, which store their weight transposed.
        fan_in_fan_out=any(isinstance(module, Conv1D) for module in model.hf.modules()),
    )
    with warnings.catch_warnings():
        # peft reads transformers' deprecated is_gradient_checkpointing; nothing to act on.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        adapter: Adapter = get_peft_model(model.hf, config)
    model.adapters.append(adapter)


def merge_lora(model: HFCausalLM, folder: Path) -> None:
    """Save the adapters to ``folder/adapter``, then merge them into ``model.hf``, in place."""
    for adapter in model.adapters:
        adapter.save_pretrained(str(folder / ADAPTER_DIR))
        adapter.merge_and_unload()
    model.adapters.clear()

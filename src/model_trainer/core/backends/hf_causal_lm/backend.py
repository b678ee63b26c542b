"""Pretrained causal LMs as the core needs them: load, score, sample with the cache, fine-tune.

``build`` is the pretrained start of a run (``init_from``): the checkpoint's weights in fp32
(the base in bf16 under LoRA on a bf16 device), gradient checkpointing and LoRA adapters
when asked. The run's ``model/`` folder is a Hugging Face folder (LoRA merged, the adapters
in ``model/adapter``).
"""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.backends.adapter import FamilyParts, family_backend
from model_trainer.core.backends.artifact import artifact_meta
from model_trainer.core.backends.hf_causal_lm import CAPABILITIES, FAMILY, SIZES, PretrainedShape
from model_trainer.core.backends.hf_causal_lm.io import load_pretrained, save_pretrained_model
from model_trainer.core.backends.hf_causal_lm.lora import add_lora, merge_lora, require_peft
from model_trainer.core.backends.hf_causal_lm.model import HFCausalLM
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    BackendCapabilities,
    EvalOutcome,
    GenerateConfig,
    GenerateOutcome,
    LoadOptions,
    ModelArtifact,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
    TrainContext,
    TrainOutcome,
)
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.generate import generate_cached
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.score import score_windowed
from model_trainer.core.training.device import available_device, resolve_precision


def build_pretrained(
    shape: PretrainedShape, cfg: ModelTrainConfig, tokenizer: TokenizerHandle
) -> HFCausalLM:
    """The model ``cfg["init_from"]`` names, ready to fine-tune with ``tokenizer``.

    Raises:
        ModelTrainerError: the errors of ``load_pretrained``; ``MODEL_INCOMPATIBLE`` when
            ``tokenizer`` is not the model's; ``INVALID_CONFIG`` when ``max_seq_len`` is
            beyond the model's context or LoRA is asked for without ``peft``.
    """
    del shape
    if cfg["lora_rank"] > 0:
        require_peft()
    device = available_device(cfg["device"])
    lora_bf16 = cfg["lora_rank"] > 0 and resolve_precision(cfg["precision"], device) == "bf16"
    prepared = load_pretrained(
        cfg["init_from"],
        device="cpu",
        dtype="bf16" if lora_bf16 else "fp32",
        max_seq_len=cfg["max_seq_len"],
    )
    if prepared["tokenizer_id"] != tokenizer.tokenizer_id:
        raise ModelTrainerError(
            "MODEL_INCOMPATIBLE",
            f"init_from: the tokenizer given ({tokenizer.tokenizer_id}) is not the one of "
            f"{cfg['init_from']!r} ({prepared['tokenizer_id']})",
        )
    model = model_as(prepared, HFCausalLM)
    if cfg["gradient_checkpointing"]:
        model.gradient_checkpointing()
    if cfg["lora_rank"] > 0:
        add_lora(model, cfg["lora_rank"])
    return model


def save_pretrained(prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
    """Write ``prepared`` as a Hugging Face folder; LoRA adapters saved, then merged."""
    model = model_as(prepared, HFCausalLM)
    if model.adapters:
        merge_lora(model, Path(out_dir))
    return save_pretrained_model(prepared, out_dir, meta={**artifact_meta(prepared)})


def load_saved(artifact_path: str, settings: Settings) -> PreparedLMModel:
    """Read a Hugging Face folder (a run's ``model/``) onto the fastest device present.

    ``settings`` is part of the backend signature; nothing here depends on it.
    """
    del settings
    return load_pretrained(artifact_path)


def score_pretrained(
    prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
) -> ScoreOutcome:
    """Score ``cfg``'s text after the model's BOS, in windows of its context.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not an ``HFCausalLM``;
            the errors of ``score_windowed`` for bad input.
    """
    return score_windowed(model_as(prepared, HFCausalLM), prepared, cfg, settings)


def generate_pretrained(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample continuations with the model's own key/value cache.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not an ``HFCausalLM``;
            the errors of ``generate_cached`` for bad input.
    """
    return generate_cached(
        model_as(prepared, HFCausalLM),
        prepared,
        cfg,
        settings,
        context_len=prepared["max_seq_len"],
        on_token=on_token,
    )


HF_CAUSAL_LM_PARTS: FamilyParts[PretrainedShape] = {
    "name": FAMILY,
    "capabilities": CAPABILITIES,
    "sizes": SIZES,
    "build": build_pretrained,
    "save": save_pretrained,
    "load": load_saved,
    "score": score_pretrained,
    "generate": generate_pretrained,
}


class PretrainedBackend:
    """The family's ``ModelBackend``, and a ``SourceLoader`` for ``mt.load_model``."""

    def __init__(self, inner: ModelBackend) -> None:
        self._inner = inner

    def load_source(self, source: str, options: LoadOptions) -> PreparedLMModel:
        """Load ``source`` (a folder, or a model id in the HF cache) as ``options`` say."""
        return load_pretrained(source, **options)

    def name(self) -> str:
        """``hf_causal_lm``."""
        return self._inner.name()

    def capabilities(self) -> BackendCapabilities:
        """What the family can do."""
        return self._inner.capabilities()

    def prepare(
        self, cfg: ModelTrainConfig, settings: Settings, *, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        """The pretrained start of a run (``build_pretrained``), read after its BOS."""
        prepared = self._inner.prepare(cfg, settings, tokenizer=tokenizer)
        return {**prepared, "start_id": model_as(prepared, HFCausalLM).start_id}

    def train(
        self, cfg: ModelTrainConfig, *, prepared: PreparedLMModel, context: TrainContext
    ) -> TrainOutcome:
        """Fine-tune ``prepared`` with the kit's loop."""
        return self._inner.train(cfg, prepared=prepared, context=context)

    def evaluate(self, *, run_dir: str, cfg: ModelTrainConfig, settings: Settings) -> EvalOutcome:
        """Evaluate the run's saved model on its validation split."""
        return self._inner.evaluate(run_dir=run_dir, cfg=cfg, settings=settings)

    def score(
        self, *, prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
    ) -> ScoreOutcome:
        """Score a text (``score_pretrained``)."""
        return self._inner.score(prepared=prepared, cfg=cfg, settings=settings)

    def generate(
        self,
        *,
        prepared: PreparedLMModel,
        cfg: GenerateConfig,
        settings: Settings,
        on_token: TokenCallback | None = None,
    ) -> GenerateOutcome:
        """Sample with the model's cache (``generate_pretrained``)."""
        return self._inner.generate(
            prepared=prepared, cfg=cfg, settings=settings, on_token=on_token
        )

    def save(self, prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
        """Write a Hugging Face folder (``save_pretrained``)."""
        return self._inner.save(prepared, out_dir)

    def load(self, artifact_path: str, settings: Settings) -> PreparedLMModel:
        """Read a Hugging Face folder (``load_saved``)."""
        return self._inner.load(artifact_path, settings)


hf_causal_lm_backend = PretrainedBackend(family_backend(HF_CAUSAL_LM_PARTS))

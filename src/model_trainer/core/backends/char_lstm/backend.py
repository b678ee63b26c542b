"""The char-LSTM as the core needs it: its builder, scoring and sampling with carried state."""

from __future__ import annotations

from model_trainer.core.backends.adapter import (
    BackendFunctions,
    create_backend,
    evaluator,
    same_config,
)
from model_trainer.core.backends.char_lstm import CAPABILITIES, CHAR_LSTM_SIZES, LSTMShape
from model_trainer.core.backends.char_lstm.model import CharLSTM
from model_trainer.core.backends.module_format import ModuleFormat
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    GenerateConfig,
    GenerateOutcome,
    ModelTrainConfig,
    PreparedLMModel,
    ScoreConfig,
    ScoreOutcome,
    TokenCallback,
)
from model_trainer.core.inference.batched import forward_batch
from model_trainer.core.inference.generate import generate_cached
from model_trainer.core.inference.narrow import model_as
from model_trainer.core.inference.score import score_stateful
from model_trainer.core.training.loop import run_training


def score_char_lstm(
    prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
) -> ScoreOutcome:
    """Score ``cfg``'s text whole, however long, in one pass of carried state.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``CharLSTM``; the
            errors of ``score_stateful`` for bad input.
    """
    return score_stateful(model_as(prepared, CharLSTM), prepared, cfg, settings)


def generate_char_lstm(
    prepared: PreparedLMModel,
    cfg: GenerateConfig,
    settings: Settings,
    *,
    on_token: TokenCallback | None = None,
) -> GenerateOutcome:
    """Sample one character a step from the carried ``(h, c)`` state; no context limit.

    Raises:
        ModelTrainerError: ``MODEL_INCOMPATIBLE`` when the model is not a ``CharLSTM``; the
            errors of ``generate_cached`` for bad input.
    """
    return generate_cached(
        model_as(prepared, CharLSTM), prepared, cfg, settings, context_len=None, on_token=on_token
    )


CHAR_LSTM_FORMAT = ModuleFormat(
    "char_lstm", model_type=CharLSTM, shape_type=LSTMShape, sizes=CHAR_LSTM_SIZES, build=CharLSTM
)
"""Its fresh models of a size, and its model folders: weights, ``config.json`` with the
shape, ``tokenizer.json``."""

CHAR_LSTM_BACKEND_FUNCS: BackendFunctions[ModelTrainConfig] = {
    "name": "char_lstm",
    "capabilities": CAPABILITIES,
    "convert_config": same_config,
    "prepare": CHAR_LSTM_FORMAT.prepare,
    "train": run_training,
    "evaluate": evaluator(CHAR_LSTM_FORMAT.load),
    "score": score_char_lstm,
    "score_batch": forward_batch,
    "generate": generate_char_lstm,
    "stream": generate_char_lstm,
    "save": CHAR_LSTM_FORMAT.save,
    "load": CHAR_LSTM_FORMAT.load,
}

char_lstm_backend = create_backend(CHAR_LSTM_BACKEND_FUNCS)

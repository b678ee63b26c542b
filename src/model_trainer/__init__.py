"""model-trainer: train, score and sample small language models from a notebook.

The notebook functions (see ``model_trainer.api``, ``view_api`` and ``experiment_api``) are
imported on first use, so importing the package (the command line, a test's coverage set-up)
does not load torch. ``ModelTrainerError`` (every error the kit raises, with a code) and
``ConfigError`` (a bad config field; also a ``ValueError``) are here to catch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from model_trainer.core.errors import ConfigError, ModelTrainerError

if TYPE_CHECKING:
    from model_trainer.api import (
        clear_cache,
        compare_runs,
        evaluate,
        generate,
        launch_distributed,
        list_runs,
        load_model,
        load_run,
        resume,
        resume_distributed,
        score,
        train,
    )
    from model_trainer.core.analysis.slices import surprisal_by
    from model_trainer.core.analysis.spans import surprising_spans, where_beats
    from model_trainer.core.data.corpus import builtin_text, split_text
    from model_trainer.core.tokenizers.io import train_tokenizer
    from model_trainer.corpus_api import open_scores, score_corpus
    from model_trainer.experiment_api import (
        history_frame,
        lr_find,
        resume_sweep,
        runs_frame,
        score_frame,
        show_lr_find,
        sweep,
    )
    from model_trainer.notebook.corpus_view import show_spans
    from model_trainer.view_api import (
        compare_scores,
        show_comparison,
        show_curves,
        show_evolution,
        show_generation,
        show_score,
    )

__all__ = [
    "ConfigError",
    "ModelTrainerError",
    "builtin_text",
    "clear_cache",
    "compare_runs",
    "compare_scores",
    "evaluate",
    "generate",
    "history_frame",
    "launch_distributed",
    "list_runs",
    "load_model",
    "load_run",
    "lr_find",
    "open_scores",
    "resume",
    "resume_distributed",
    "resume_sweep",
    "runs_frame",
    "score",
    "score_corpus",
    "score_frame",
    "show_comparison",
    "show_curves",
    "show_evolution",
    "show_generation",
    "show_lr_find",
    "show_score",
    "show_spans",
    "split_text",
    "surprisal_by",
    "surprising_spans",
    "sweep",
    "train",
    "train_tokenizer",
    "where_beats",
]


HOMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "history_frame",
            "lr_find",
            "resume_sweep",
            "runs_frame",
            "score_frame",
            "show_lr_find",
            "sweep",
        ),
        "experiment_api",
    ),
    **dict.fromkeys(
        (
            "compare_scores",
            "show_comparison",
            "show_curves",
            "show_evolution",
            "show_generation",
            "show_score",
        ),
        "view_api",
    ),
    **dict.fromkeys(("builtin_text", "split_text"), "core.data.corpus"),
    "surprisal_by": "core.analysis.slices",
    **dict.fromkeys(("surprising_spans", "where_beats"), "core.analysis.spans"),
    "show_spans": "notebook.corpus_view",
    **dict.fromkeys(("open_scores", "score_corpus"), "corpus_api"),
    "train_tokenizer": "core.tokenizers.io",
}
"""The module of each name of ``__all__`` that is not in ``model_trainer.api``."""


def __getattr__(name: str) -> object:
    """Import a notebook function of ``__all__`` from its module on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'model_trainer' has no attribute {name!r}")
    module = importlib.import_module(f"model_trainer.{HOMES.get(name, 'api')}")
    return getattr(module, name)

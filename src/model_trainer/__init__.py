"""model-trainer: train, score and sample small language models from a notebook.

The notebook functions (see ``model_trainer.api`` and ``model_trainer.experiment_api``) are
imported on first use, so importing the package (the command line, a test's coverage set-up)
does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_trainer.api import (
        compare_runs,
        compare_scores,
        evaluate,
        generate,
        launch_distributed,
        list_runs,
        load_model,
        load_run,
        resume,
        resume_distributed,
        score,
        show_comparison,
        show_curves,
        show_generation,
        show_score,
        train,
    )
    from model_trainer.experiment_api import (
        history_frame,
        lr_find,
        resume_sweep,
        runs_frame,
        score_frame,
        show_lr_find,
        sweep,
    )

__all__ = [
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
    "resume",
    "resume_distributed",
    "resume_sweep",
    "runs_frame",
    "score",
    "score_frame",
    "show_comparison",
    "show_curves",
    "show_generation",
    "show_lr_find",
    "show_score",
    "sweep",
    "train",
]


EXPERIMENT_FUNCTIONS = frozenset(
    (
        "history_frame",
        "lr_find",
        "resume_sweep",
        "runs_frame",
        "score_frame",
        "show_lr_find",
        "sweep",
    )
)
"""The names of ``__all__`` that live in ``model_trainer.experiment_api``; the rest, in ``api``."""


def __getattr__(name: str) -> object:
    """Import a notebook function of ``__all__`` from its module on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'model_trainer' has no attribute {name!r}")
    if name in EXPERIMENT_FUNCTIONS:
        from model_trainer import experiment_api

        return getattr(experiment_api, name)
    from model_trainer import api

    return getattr(api, name)

"""The notebook's show functions: pictures and HTML views of runs, scores and samples."""

from __future__ import annotations

from model_trainer.api import run_events
from model_trainer.core.contracts.model import (
    GenerateOutcome,
    ScoreOutcome,
    TrainOutcome,
)
from model_trainer.core.jobs.evolution import evolution_by_epoch
from model_trainer.core.jobs.report import EvolutionView, draw_curves, run_history
from model_trainer.core.jobs.runner import JobHandle
from model_trainer.notebook.compare import ComparisonView, RunComparison
from model_trainer.notebook.generation_view import generation_html
from model_trainer.notebook.scoring_view import CompareView, ScoreView

TrainJob = JobHandle[TrainOutcome]


def show_comparison(comparison: RunComparison) -> ComparisonView:
    """The chart of ``comparison``; ``.figure`` is its matplotlib ``Figure``."""
    return ComparisonView(comparison)


class PngView:
    """A PNG picture that displays itself in a notebook (``_repr_png_``)."""

    def __init__(self, png: bytes) -> None:
        self.png = png

    def _repr_png_(self) -> bytes:
        return self.png


def show_curves(run: str | TrainJob, *, runs_dir: str | None = None) -> PngView:
    """A run's loss and perplexity curves as they are now, drawn from its events.

    A stopped and resumed run draws as one run; a finished one as its ``curves.png``.

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run), ``INVALID_CONFIG`` (a bad id).
    """
    _, events = run_events(run, runs_dir)
    return PngView(draw_curves(run_history(events)))


def show_evolution(run: str | TrainJob, *, runs_dir: str | None = None) -> EvolutionView:
    """A run's samples and probe heatmaps side by side by epoch, drawn from its events.

    A stopped and resumed run shows all its epochs (``job.show_evolution()``: that job's own).

    Raises:
        ModelTrainerError: ``MODEL_NOT_FOUND`` (no such run), ``INVALID_CONFIG`` (a bad id).
    """
    _, events = run_events(run, runs_dir)
    return EvolutionView(evolution_by_epoch(events))


def show_score(outcome: ScoreOutcome, *, title: str = "surprisal per character") -> ScoreView:
    """A heatmap of each character's surprisal (scored with ``detail_level="per_char"``)."""
    return ScoreView(outcome, title=title)


def compare_scores(
    a: ScoreOutcome,
    b: ScoreOutcome,
    *,
    labels: tuple[str, str] = ("A", "B"),
    title: str = "surprisal per character, two models",
) -> CompareView:
    """Two models' per-character scores of one text side by side, and their difference.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` (when shown) when an outcome has no
            ``per_char`` or the two scored different texts.
    """
    return CompareView(a, b, labels=labels, title=title)


class GenerationView:
    """Sampled continuations that display in a notebook, each token shaded by probability."""

    def __init__(self, outcome: GenerateOutcome, *, prompt: str | None, title: str) -> None:
        self.outcome = outcome
        self.prompt = prompt
        self.title = title

    def html(self) -> str:
        """The view's HTML (see ``generation_html``)."""
        return generation_html(self.outcome, prompt=self.prompt, title=self.title)

    def _repr_html_(self) -> str:
        return self.html()


def show_generation(
    outcome: GenerateOutcome, *, prompt: str | None = None, title: str = "samples"
) -> GenerationView:
    """The continuations of ``outcome``, ``prompt`` (if given) in grey before each."""
    return GenerationView(outcome, prompt=prompt, title=title)

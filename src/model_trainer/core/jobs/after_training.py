"""What follows training: the closing score, a sample, ``curves.png`` and ``report.html``.

``write_after_training`` runs once the model is saved. A progress event names each piece
as it begins (``after training: sample``). A piece that cannot be made or written (a coded
error: a folder where ``report.html`` goes, a full disk) ends the step with one warning
event naming the files left unwritten, and the run stays completed: its model is saved and
its history is in ``events.jsonl``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypedDict

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    CharScore,
    LossUnit,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
    TrainOutcome,
)
from model_trainer.core.contracts.schema import generate_overlay, score_overlay
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event, read_events
from model_trainer.core.events.job_events import (
    JsonValue,
    make_progress_event,
    make_warning_event,
)
from model_trainer.core.faults import writing
from model_trainer.core.jobs.evolution import PROMPT_CHARS, evolution_by_epoch
from model_trainer.core.jobs.report import draw_curves, render_report, report_metrics, run_history
from model_trainer.core.jobs.run_store import CURVES_FILE, EVENTS_FILE, REPORT_FILE

SNIPPET_CHARS: Final = 400
SAMPLE_TOKENS: Final[dict[LossUnit, int]] = {"char": 200, "token": 60}
PIECES: Final = ("closing score", "sample", CURVES_FILE, REPORT_FILE)


class FinishedRun(TypedDict):
    """A run whose training completed and whose model is saved, as the step reads it."""

    run_id: str
    folder: Path
    cfg: ModelTrainConfig
    settings: Settings
    backend: ModelBackend
    prepared: PreparedLMModel
    outcome: TrainOutcome
    snippet: str
    chars_per_token: float


def write_after_training(
    run: FinishedRun, emit: Callable[[Event], None], *, job_id: str, user_id: int
) -> None:
    """Score the closing snippet, sample, and write ``curves.png`` and ``report.html``.

    Each piece is announced on ``emit`` as it begins; a coded error ends the step with a
    warning (``payload["warning"] == "after_training"``) and is not raised.
    """
    begun: list[str] = []

    def begin(piece: str) -> None:
        begun.append(piece)
        emit(
            make_progress_event(
                job_id=job_id, user_id=user_id, progress=100, message=f"after training: {piece}"
            )
        )

    try:
        _write(run, begin)
    except ModelTrainerError as exc:
        left = PIECES[len(begun) - 1 :]
        names = [name for name in (CURVES_FILE, REPORT_FILE) if name in left]
        unwritten: list[JsonValue] = list(names)
        emit(
            make_warning_event(
                job_id=job_id,
                user_id=user_id,
                progress=100,
                warning="after_training",
                code=exc.code,
                message=f"{', '.join(names)} not written (the run is completed and its model "
                f"saved): {exc.message}",
                details={"piece": begun[-1], "unwritten": unwritten},
            )
        )


def _write(run: FinishedRun, begin: Callable[[str], None]) -> None:
    folder, backend, prepared = run["folder"], run["backend"], run["prepared"]
    snippet = run["snippet"][:SNIPPET_CHARS]
    prompt = snippet[:PROMPT_CHARS]
    capabilities = backend.capabilities()
    begin(PIECES[0])
    scores: Sequence[CharScore] = []
    if capabilities["supports_score"]:
        scored = backend.score(
            prepared=prepared,
            cfg=score_overlay({"text": snippet, "detail_level": "per_char"}),
            settings=run["settings"],
        )
        scores = scored.get("per_char", [])
    begin(PIECES[1])
    sample = f"({run['cfg']['model_family']} does not sample)"
    if capabilities["supports_generate"]:
        generated = backend.generate(
            prepared=prepared,
            cfg=generate_overlay(
                {
                    "prompt_text": prompt,
                    "max_new_tokens": SAMPLE_TOKENS[run["outcome"]["loss_unit"]],
                    "seed": run["cfg"]["seed"],
                }
            ),
            settings=run["settings"],
        )
        sample = generated["outputs"][0]
    begin(PIECES[2])
    events = read_events(folder / EVENTS_FILE)
    png = draw_curves(run_history(events))
    with writing(folder / CURVES_FILE):
        (folder / CURVES_FILE).write_bytes(png)
    begin(PIECES[3])
    page = render_report(
        run_id=run["run_id"],
        curves_png=png,
        metrics=report_metrics(run["cfg"], prepared, run["outcome"], run["chars_per_token"]),
        prompt=prompt,
        sample=sample,
        scores=scores,
        evolution=evolution_by_epoch(events),
    )
    with writing(folder / REPORT_FILE):
        (folder / REPORT_FILE).write_text(page, encoding="utf-8")

"""The scoring's live view: its line of figures, the notebook panel and the text bar."""

from __future__ import annotations

import io

from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import (
    JsonValue,
    make_completed_event,
    make_failed_event,
    make_progress_event,
    make_started_event,
)
from model_trainer.notebook.scoring_progress import (
    ScoringConsole,
    ScoringPanel,
    ScoringStatus,
    make_scoring_view,
)


def _progress(documents: int, bits: dict[str, JsonValue]) -> Event:
    payload: dict[str, JsonValue] = {
        "documents": documents,
        "total_documents": 10,
        "chars": documents * 6,
        "total_chars": 60,
        "bits_per_char": bits,
    }
    return make_progress_event(
        job_id="j", user_id=0, progress=documents * 10, message="scoring", payload=payload
    )


def test_the_status_line_counts_documents_rate_and_bits() -> None:
    now = [100.0]
    status = ScoringStatus(clock=lambda: now[0])
    assert status.rate() == 0.0
    assert not status.update(
        make_started_event(job_id="j", user_id=0, kind="score_corpus", run_id="s")
    )
    assert not status.update(
        make_progress_event(job_id="j", user_id=0, progress=0, message="no payload")
    )
    bare = make_progress_event(
        job_id="j",
        user_id=0,
        progress=0,
        message="scoring",
        payload={"documents": 0, "total_documents": 10},
    )
    assert status.update(bare)
    assert status.bits == {}
    assert status.update(_progress(0, {"a": None, "b": None}))
    assert status.rate() == 0.0
    assert status.text() == (
        "0/10 documents · 0 chars · 0.0 docs/s · --:-- left · bits/char: a - · b -"
    )
    now[0] = 102.0
    assert status.update(_progress(4, {"a": 2.5, "b": 3.25}))
    assert status.text() == (
        "4/10 documents · 24 chars · 2.0 docs/s · 00:03 left · bits/char: a 2.500 · b 3.250"
    )
    assert status.update(make_completed_event(job_id="j", user_id=0, result_id="s", result_bytes=1))
    assert status.text().endswith(" · completed")
    assert status.update(
        make_failed_event(
            job_id="j", user_id=0, error_kind="user", code="TRAINING_CANCELLED", message="m"
        )
    )
    assert status.text().endswith(" · stopped: m")


def test_the_panel_shows_the_figures_and_stops_the_job() -> None:
    shown: list[object] = []
    stops: list[str] = []

    def show(obj: object, *, display_id: str | None = None, update: bool = False) -> None:
        shown.append(obj)

    panel = make_scoring_view(lambda: stops.append("stop"), notebook=True, display=show)
    assert isinstance(panel, ScoringPanel)
    assert shown == [panel.widget]
    panel.emit(make_started_event(job_id="j", user_id=0, kind="score_corpus", run_id="s"))
    panel.emit(_progress(5, {"a": 1.0}))
    assert (panel.bar.value, panel.bar.max) == (5, 10)
    assert panel.label.value.startswith("5/10 documents")
    panel.emit(
        make_failed_event(
            job_id="j", user_id=0, error_kind="system", code="INTERNAL_ERROR", message="x"
        )
    )
    assert panel.stop_button.disabled
    panel.stop_button.click()
    assert stops == ["stop"]
    panel.close()


def test_the_console_draws_a_bar_and_prints_the_end() -> None:
    stream = io.StringIO()
    console = ScoringConsole(stream)
    console.close()
    console.emit(make_started_event(job_id="j", user_id=0, kind="score_corpus", run_id="s"))
    console.emit(_progress(3, {"a": 1.5}))
    console.emit(make_completed_event(job_id="j", user_id=0, result_id="s", result_bytes=1))
    console.show()
    console.close()
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("3/10 documents")
    assert lines[-1].endswith("completed")
    assert isinstance(make_scoring_view(lambda: None, notebook=False), ScoringConsole)

"""The sweep's live view, fed with the events of a real tiny sweep."""

from __future__ import annotations

import IPython.display
import pytest

from model_trainer import experiment_api
from model_trainer.core.events.job_events import make_failed_event, make_progress_event
from model_trainer.notebook.sweep_view import (
    SweepBoard,
    SweepConsole,
    SweepPanel,
    make_sweep_view,
    sweep_png,
    sweep_table_html,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Shown = tuple[object, str | None, bool]


class Recorder:
    """A display function that keeps each call: what, under which id, as an update or not."""

    def __init__(self) -> None:
        self.calls: list[Shown] = []

    def __call__(self, obj: object, *, display_id: str | None = None, update: bool = False) -> None:
        self.calls.append((obj, display_id, update))


@pytest.fixture
def base(corpus: str) -> dict[str, object]:
    return {
        "model_family": "char_lstm",
        "model_size": "tiny",
        "num_epochs": 2,
        "max_seq_len": 16,
        "batch_size": 8,
        "max_steps_per_epoch": 3,
        "device": "cpu",
        "corpus_path": corpus,
    }


def test_the_panel_draws_every_trial_sorted_by_its_best_value(
    base: dict[str, object], runs: str
) -> None:
    shown = Recorder()
    stops: list[str] = []
    panel = SweepPanel("view", lambda: stops.append("stop"), display=shown, background=False)
    panel.show()
    (widget, panel_slot, _), (reserved, table_slot, _) = shown.calls
    assert widget is panel.widget
    assert isinstance(reserved, IPython.display.HTML)
    assert reserved.data == ""
    assert panel_slot is not None
    assert table_slot is not None
    assert panel_slot != table_slot
    panel.show()  # shown again (a reload): the same two slots
    assert [(obj, slot) for obj, slot, _ in shown.calls[2:]] == [
        (widget, panel_slot),
        (shown.calls[3][0], table_slot),
    ]
    del shown.calls[2:]
    result = experiment_api.sweep(
        base,
        {"learning_rate": [1e-4, 1e-2]},
        sweep_id="view",
        runs_dir=runs,
        show=False,
        sinks=[panel],
    ).result()
    snapshot = panel.flush()
    values = {t["run_id"]: t["value"] for t in result["trials"]}
    assert [row["run_id"] for row in snapshot["trials"]] == sorted(
        values, key=lambda run_id: values[run_id] or 0.0
    )
    assert snapshot["trials"][0]["run_id"] == result["best_run_id"]
    for row in snapshot["trials"]:
        assert row["state"] == "completed"
        assert row["epochs"] == [1, 2]
        assert row["best"] == pytest.approx(values[row["run_id"]])
        assert row["params"].startswith("learning_rate=")
    assert (snapshot["state"], snapshot["running"]) == ("completed", [])
    assert bytes(panel.image.value).startswith(PNG_MAGIC)
    assert "view-t00" in panel.table.value
    assert panel.stop_button.disabled
    # The end put plain outputs where the widget and the reserved slot were.
    (picture, picture_slot, updated), (page, page_slot, page_updated) = shown.calls[2:]
    assert isinstance(picture, IPython.display.Image)
    assert picture.data == panel.image.value
    assert (picture_slot, updated) == (panel_slot, True)
    assert isinstance(page, IPython.display.HTML)
    assert (page_slot, page_updated) == (table_slot, True)
    assert page.data == f"<p>sweep view: completed, running: -</p>\n{panel.table.value}"
    assert panel.final == (panel.image.value, page.data)
    # A later frame (nothing new) displays nothing more; shown again: the outputs, no widget.
    panel.flush()
    assert len(shown.calls) == 4
    panel.show()
    assert [(type(obj), slot, up) for obj, slot, up in shown.calls[4:]] == [
        (IPython.display.Image, None, False),
        (IPython.display.HTML, None, False),
    ]
    panel.close()


def test_stop_asks_once_and_the_running_trial_is_marked() -> None:
    stops: list[str] = []
    panel = SweepPanel("s", lambda: stops.append("stop"), display=lambda obj, **_: None)
    panel.emit(
        make_progress_event(
            job_id="s",
            user_id=0,
            progress=0,
            message="trial 1/2",
            payload={"run_id": "s-t00", "index": 0, "params": {"seed": 1}},
        )
    )
    panel.emit(make_progress_event(job_id="other", user_id=0, progress=0, message="x"))
    snapshot = panel.board.snapshot()
    assert snapshot["running"] == ["s-t00"]
    assert [row["state"] for row in snapshot["trials"]] == ["running"]
    assert '<tr style="font-weight:bold">' in sweep_table_html(snapshot)
    assert sweep_png(snapshot).startswith(PNG_MAGIC)
    panel.stop_button.click()
    assert stops == ["stop"]
    assert panel.stop_button.description == "Stopping..."
    panel.emit(
        make_failed_event(
            job_id="s-t00",
            user_id=0,
            error_kind="user",
            code="TRAINING_CANCELLED",
            message="stopped",
        )
    )
    panel.emit(
        make_failed_event(
            job_id="s", user_id=0, error_kind="user", code="TRAINING_CANCELLED", message="stopped"
        )
    )
    snapshot = panel.board.snapshot()
    assert [row["state"] for row in snapshot["trials"]] == ["stopped"]
    assert snapshot["state"] == "stopped"


def test_trials_running_at_once_are_all_marked_until_each_ends() -> None:
    shown = Recorder()
    panel = SweepPanel("two", lambda: None, display=shown, background=False)
    for index, device in enumerate(("cuda:0", "cuda:1")):
        panel.emit(
            make_progress_event(
                job_id="two",
                user_id=0,
                progress=0,
                message=f"trial {index + 1}/3",
                payload={
                    "run_id": f"two-t0{index}",
                    "index": index,
                    "params": {"seed": index},
                    "device": device,
                },
            )
        )
    snapshot = panel.flush()
    assert snapshot["running"] == ["two-t00", "two-t01"]
    assert sorted(row["state"] for row in snapshot["trials"]) == [
        "running on cuda:0",
        "running on cuda:1",
    ]
    assert sweep_table_html(snapshot).count('<tr style="font-weight:bold">') == 2
    assert panel.status.value == "sweep two: running, running: two-t00, two-t01"
    ended = panel.board.record(
        make_failed_event(
            job_id="two-t00", user_id=0, error_kind="user", code="CORPUS_EMPTY", message="short"
        )
    )
    assert [(row["run_id"], row["state"]) for row in ended] == [
        ("two-t00", "failed (CORPUS_EMPTY)")
    ]
    assert panel.flush()["running"] == ["two-t01"]
    assert panel.status.value == "sweep two: running, running: two-t01"
    panel.emit(
        make_failed_event(
            job_id="two", user_id=0, error_kind="user", code="TRAINING_CANCELLED", message="x"
        )
    )
    assert panel.flush()["running"] == []
    assert panel.status.value == "sweep two: stopped, running: -"
    # Never shown: the end's chart and table are displayed as new outputs.
    assert [(type(obj), slot, up) for obj, slot, up in shown.calls] == [
        (IPython.display.Image, None, False),
        (IPython.display.HTML, None, False),
    ]


def test_a_failed_trial_shows_its_code() -> None:
    board = SweepBoard("f")
    board.emit(
        make_progress_event(
            job_id="f", user_id=0, progress=0, message="t", payload={"run_id": "f-t00"}
        )
    )
    board.emit(
        make_failed_event(
            job_id="f-t00", user_id=0, error_kind="user", code="CORPUS_EMPTY", message="short"
        )
    )
    board.close()
    assert [row["state"] for row in board.snapshot()["trials"]] == ["failed (CORPUS_EMPTY)"]
    assert board.snapshot()["trials"][0]["params"] == ""


def test_an_empty_board_draws_an_empty_chart() -> None:
    assert sweep_png(SweepBoard("e").snapshot()).startswith(PNG_MAGIC)


def test_the_view_is_a_panel_in_a_notebook_and_lines_elsewhere(
    base: dict[str, object], runs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = Recorder()
    panel = make_sweep_view(lambda: None, "nb", notebook=True, display=shown)
    assert isinstance(panel, SweepPanel)
    assert shown.calls[0][0] is panel.widget
    assert isinstance(make_sweep_view(lambda: None, "c", notebook=False), SweepConsole)
    job = experiment_api.sweep(base, {"seed": [0]}, sweep_id="shown", runs_dir=runs)
    job.result()
    assert isinstance(job.view, SweepConsole)
    assert "trial shown-t00 (seed=0): completed" in capsys.readouterr().err

from __future__ import annotations

import html
import math
import re
from html.parser import HTMLParser

from model_trainer.core.contracts.model import CharScore
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import make_started_event
from model_trainer.core.events.trainer_metrics_events import (
    make_config_event,
    make_epoch_event,
    make_progress_metrics_event,
)
from model_trainer.core.jobs.report import (
    RunHistory,
    draw_curves,
    heat_color,
    heatmap_html,
    perplexity,
    render_report,
    run_history,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _progress(step: int, loss: float) -> Event:
    return make_progress_metrics_event(
        job_id="j",
        user_id=0,
        epoch=0,
        total_epochs=2,
        step=step,
        steps_per_epoch=4,
        loss=loss,
        tokens_per_second=10.0,
        learning_rate=1e-3,
        elapsed_s=1.0,
    )


def _epoch(epoch: int, step: int, loss: float, val: float | None) -> Event:
    return make_epoch_event(
        job_id="j",
        user_id=0,
        epoch=epoch,
        total_epochs=2,
        global_step=step,
        elapsed_s=1.0,
        train_loss=loss,
        train_perplexity=math.exp(loss),
        val_loss=val,
        val_perplexity=None if val is None else math.exp(val),
        tokens_per_second=10.0,
        learning_rate=1e-3,
        loss_unit="char",
    )


def test_history_of_one_straight_run() -> None:
    events: list[Event] = [
        make_started_event(job_id="j", user_id=0, kind="train", run_id="r"),
        make_config_event(
            job_id="j",
            user_id=0,
            model_family="char_lstm",
            model_size="tiny",
            total_epochs=2,
            loss_unit="char",
        ),
        _progress(1, 3.0),
        _progress(2, 2.5),
        _epoch(0, 2, 2.7, 2.6),
        _progress(3, 2.2),
        _epoch(1, 3, 2.2, None),
    ]
    assert run_history(events) == {
        "steps": [(1, 3.0), (2, 2.5), (3, 2.2)],
        "epochs": [
            {"epoch": 0, "step": 2, "train_loss": 2.7, "val_loss": 2.6},
            {"epoch": 1, "step": 3, "train_loss": 2.2, "val_loss": None},
        ],
        "loss_unit": "char",
    }


def test_config_without_unit_keeps_token() -> None:
    events: list[Event] = [
        make_config_event(
            job_id="j", user_id=0, model_family="gpt2", model_size="tiny", total_epochs=1
        ),
    ]
    empty: RunHistory = {"steps": [], "epochs": [], "loss_unit": "token"}
    assert run_history(events) == empty


def test_resumed_run_continues_where_it_stopped() -> None:
    events: list[Event] = [
        _progress(1, 3.0),
        _progress(2, 2.8),
        _epoch(0, 2, 2.9, 2.85),
        _progress(3, 2.6),
        _progress(4, 2.5),
        _epoch(1, 4, 2.55, 2.5),
        _progress(5, 2.4),
        # resumed from the checkpoint at the end of epoch 0 (step 2)
        _progress(3, 2.61),
        _progress(4, 2.51),
        _epoch(1, 4, 2.56, 2.49),
    ]
    history = run_history(events)
    assert history["steps"] == [(1, 3.0), (2, 2.8), (3, 2.61), (4, 2.51)]
    assert [(p["epoch"], p["train_loss"]) for p in history["epochs"]] == [(0, 2.9), (1, 2.56)]


def test_perplexity_is_capped() -> None:
    assert perplexity(0.0) == 1.0
    assert perplexity(1e6) == math.exp(100.0)


def test_curves_are_a_png() -> None:
    events = [_progress(1, 3.0), _epoch(0, 1, 3.0, 2.9), _progress(2, 2.0), _epoch(1, 2, 2.0, None)]
    png = draw_curves(run_history(events))
    assert png.startswith(PNG_MAGIC)
    assert draw_curves({"steps": [], "epochs": [], "loss_unit": "token"}).startswith(PNG_MAGIC)


def test_heat_color_scales_and_clamps() -> None:
    assert heat_color(-1.0) == "rgba(215, 48, 39, 0.00)"
    assert heat_color(4.0) == "rgba(215, 48, 39, 0.50)"
    assert heat_color(20.0) == "rgba(215, 48, 39, 1.00)"


def _score(char: str, bits: float) -> CharScore:
    return {"char": char, "surprisal_bits": bits, "token_index": 0, "rank": 3}


def test_heatmap_escapes_every_character() -> None:
    assert heatmap_html([_score("<", 8.0), _score("a", 0.0)]) == (
        '<span style="background:rgba(215, 48, 39, 1.00)" title="8.00 bits, rank 3">&lt;</span>'
        '<span style="background:rgba(215, 48, 39, 0.00)" title="0.00 bits, rank 3">a</span>'
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.srcs.extend(value or "" for name, value in attrs if name in ("src", "href"))


def test_report_is_self_contained_and_escaped() -> None:
    page = render_report(
        run_id="run<1>",
        curves_png=PNG_MAGIC,
        metrics=[("validation <loss>", "1.5 & more")],
        prompt="<script>alert(1)</script>",
        sample="a & b",
        scores=[_score("&", 2.0)],
    )
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "link" not in parser.tags
    assert parser.srcs == ["data:image/png;base64,iVBORw0KGgo="]
    assert "model-trainer run run&lt;1&gt;" in page
    assert "<th>validation &lt;loss&gt;</th><td>1.5 &amp; more</td>" in page
    assert html.escape("<script>alert(1)</script>") in page
    assert "<pre>a &amp; b</pre>" in page
    assert re.search(r'title="2.00 bits, rank 3">&amp;</span>', page)

from __future__ import annotations

import math
from pathlib import Path

import pytest

from model_trainer import experiment_api
from model_trainer.core.contracts.model import Precision
from model_trainer.core.contracts.typed_json import parse_typed
from model_trainer.core.data.cache import CACHE_DIR
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.sinks import ListSink
from model_trainer.core.events.trainer_metrics_events import is_progress_metrics
from model_trainer.core.experiments.lr_find import (
    RULE,
    LrFindResult,
    LrRamp,
    check_ramp,
    ramp_lr,
    smooth,
    suggest,
    verdict,
)
from model_trainer.notebook.lr_view import LrFindView

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RAMP: LrRamp = {
    "start_lr": 1e-5,
    "end_lr": 1.0,
    "num_steps": 11,
    "smoothing": 0.5,
    "diverge_factor": 4.0,
}


def test_the_ramp_is_geometric_from_start_to_end() -> None:
    rates = [ramp_lr(RAMP, step) for step in range(11)]
    assert rates[0] == pytest.approx(1e-5)
    assert rates[-1] == pytest.approx(1.0)
    assert rates[5] == pytest.approx(math.sqrt(1e-5))


def test_smoothing_is_a_bias_corrected_moving_average() -> None:
    assert smooth([4.0, 2.0], 0.5) == pytest.approx([4.0, (0.5 * 2.0 + 0.25 * 4.0) / 0.75])
    assert smooth([3.0, 1.0], 0.0) == [3.0, 1.0]


def test_the_suggestion_is_the_steepest_fall_before_the_lowest_loss() -> None:
    rates = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert suggest(rates, [5.0, 4.8, 3.0, 2.9, 9.0]) == 1e-3
    assert suggest(rates[:1], [5.0]) is None
    # A loss that never falls below its first value suggests nothing (not its start rate).
    assert suggest(rates[:2], [5.0, 6.0]) is None
    assert suggest(rates, [5.0, 5.0, 7.0, 6.0, 9.0]) is None


def test_the_verdict_says_what_was_found() -> None:
    rates = [1e-4, 1e-3, 1e-2]
    assert verdict(rates, [5.0, 3.0, 9.0], RAMP) == (
        "suggested",
        1e-4,
        f"suggested learning rate 0.0001 ({RULE})",
    )
    assert verdict(rates, [5.0, 6.0, 9.0], RAMP) == (
        "no_fall",
        None,
        "no suggestion: the smoothed loss never fell below its first value (5 at 0.0001) over "
        "3 steps up to 0.01; start the ramp lower (start_lr=1e-05), or check that the model "
        "and data can learn",
    )
    assert verdict(rates[:1], [5.0], RAMP) == (
        "too_few_steps",
        None,
        "no suggestion: 1 step(s) gave a finite loss, and a slope needs two; start the ramp "
        "lower (start_lr=1e-05) or let it run longer",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("start_lr", 0.0, "start_lr must be a finite number > 0, got 0.0"),
        ("start_lr", -1e-3, "start_lr must be a finite number > 0, got -0.001"),
        ("start_lr", math.nan, "start_lr must be a finite number > 0, got nan"),
        ("end_lr", 1e-6, "end_lr must be above start_lr=1e-05, got 1e-06"),
        ("end_lr", math.inf, "end_lr must be a finite number > 0, got inf"),
        ("num_steps", 1, r"num_steps must be an integer in \[2, 1_099_511_627_776\], got 1"),
        ("num_steps", 10**20, "num_steps must be an integer in .*, got 100000000000000000000"),
        ("smoothing", -0.5, r"smoothing must be in \[0, 1\), got -0.5"),
        ("diverge_factor", math.inf, "diverge_factor must be a finite number > 0, got inf"),
        ("smoothing", 1.0, r"smoothing must be in \[0, 1\), got 1.0"),
        ("diverge_factor", 1.0, "diverge_factor must be > 1, got 1.0"),
    ],
)
def test_a_bad_ramp_names_the_field_and_the_value(field: str, value: float, message: str) -> None:
    bad = parse_typed({**RAMP, field: value}, LrRamp, where="ramp", code="INVALID_CONFIG")
    with pytest.raises(ModelTrainerError, match=message) as caught:
        check_ramp(bad)
    assert caught.value.code == "INVALID_CONFIG"


def test_lr_find_on_a_tiny_model_suggests_a_rate_in_range_and_leaves_no_run(
    corpus: str, runs: str
) -> None:
    sink = ListSink()
    job = experiment_api.lr_find(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        max_seq_len=16,
        batch_size=8,
        device="cpu",
        start_lr=1e-5,
        end_lr=10.0,
        num_steps=30,
        runs_dir=runs,
        show=False,
        sinks=[sink],
    )
    result = job.result()
    assert job.state == "completed"
    assert job.run_dir == ""
    assert [path.name for path in Path(runs).iterdir()] == [CACHE_DIR]  # the token cache only
    steps = len(result["losses"])
    assert 2 <= steps <= 30
    assert result["learning_rates"] == [ramp_lr(result["ramp"], i) for i in range(steps)]
    assert result["smoothed_losses"] == smooth(result["losses"], 0.9)
    assert result["rule"] == RULE
    suggested = result["suggested_lr"]
    assert suggested is not None
    assert result["verdict"] == "suggested"
    assert result["message"].startswith("suggested learning rate ")
    assert 1e-5 <= suggested <= 10.0
    assert suggested in result["learning_rates"]
    progress = [event for event in sink.events if is_progress_metrics(event)]
    assert [event["loss"] for event in progress] == result["losses"]
    assert [event["learning_rate"] for event in progress] == result["learning_rates"]
    if steps < 30:
        assert result["stop"] == "diverged"
    assert LrFindView(result).png().startswith(PNG_MAGIC)
    assert experiment_api.show_lr_find(result)._repr_png_().startswith(PNG_MAGIC)


def test_stop_ends_the_search_with_what_it_measured(corpus: str, runs: str) -> None:
    job = experiment_api.lr_find(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        max_seq_len=16,
        batch_size=8,
        device="cpu",
        num_steps=10_000,
        diverge_factor=1e9,
        runs_dir=runs,
        show=False,
    )
    job.cancel()
    result = job.result()
    assert result["stop"] == "cancelled"
    assert job.state == "cancelled"
    error = job.error
    assert error is not None
    assert error.code == "TRAINING_CANCELLED"


def test_lr_find_checks_the_config_and_the_ramp_first(runs: str) -> None:
    with pytest.raises(ModelTrainerError, match=r"end_lr must be above start_lr=0\.1, got 0\.01"):
        experiment_api.lr_find(start_lr=0.1, end_lr=0.01, runs_dir=runs, show=False)
    with pytest.raises(ModelTrainerError, match="batch_size must be an integer >= 1, got 0"):
        experiment_api.lr_find(batch_size=0, runs_dir=runs, show=False)


def test_a_gentle_ramp_runs_every_step_and_a_wild_one_ends_at_a_non_finite_loss(
    corpus: str, runs: str
) -> None:
    gentle = experiment_api.lr_find(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        max_seq_len=16,
        batch_size=8,
        device="cpu",
        grad_clip=0.0,
        start_lr=1e-6,
        end_lr=1e-5,
        num_steps=5,
        runs_dir=runs,
        show=False,
    ).result()
    assert (gentle["stop"], len(gentle["losses"])) == ("num_steps", 5)
    wild = experiment_api.lr_find(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        max_seq_len=16,
        batch_size=8,
        device="cpu",
        grad_clip=0.0,
        start_lr=1e6,
        end_lr=1e30,
        num_steps=40,
        diverge_factor=1e300,
        runs_dir=runs,
        show=False,
    ).result()
    assert wild["stop"] == "diverged"
    # It diverged at once: no rate helped, and the search says so instead of its start rate.
    assert wild["suggested_lr"] is None
    assert wild["verdict"] in ("no_fall", "too_few_steps")
    assert wild["message"].startswith("no suggestion: ")
    assert len(wild["losses"]) < 40
    assert all(math.isfinite(loss) for loss in wild["losses"])


def test_a_search_without_a_suggestion_still_draws() -> None:
    result: LrFindResult = {
        "learning_rates": [1e-3],
        "losses": [4.0],
        "smoothed_losses": [4.0],
        "suggested_lr": None,
        "verdict": "too_few_steps",
        "message": "no suggestion: 1 step(s) gave a finite loss",
        "rule": RULE,
        "stop": "cancelled",
        "ramp": RAMP,
    }
    assert LrFindView(result).png().startswith(PNG_MAGIC)


def _first_loss(corpus: str, runs: str, precision: Precision, grad_accum_steps: int = 1) -> float:
    """The loss of a two-step search's first step, on a fresh model (seed 0)."""
    result = experiment_api.lr_find(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        max_seq_len=16,
        batch_size=8,
        device="cpu",
        num_steps=2,
        precision=precision,
        grad_accum_steps=grad_accum_steps,
        runs_dir=runs,
        show=False,
    ).result()
    assert len(result["losses"]) == 2
    return result["losses"][0]


def test_the_search_takes_the_runs_step_with_its_accumulation_and_precision(
    corpus: str, runs: str
) -> None:
    plain = _first_loss(corpus, runs, "fp32")
    # The first update's loss is read before any step: the same batches, the same weights.
    assert _first_loss(corpus, runs, "fp32") == plain
    accumulated = _first_loss(corpus, runs, "fp32", 2)
    assert accumulated != plain  # the mean over two batches, not the first alone
    halved = _first_loss(corpus, runs, "bf16")
    assert halved != plain
    assert halved == pytest.approx(plain, abs=0.05)  # under bf16 autocast


def test_a_field_the_search_would_ignore_is_refused(runs: str) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        experiment_api.lr_find(num_epochs=5, warmup_steps=3, runs_dir=runs, show=False)
    assert caught.value.code == "INVALID_CONFIG"
    assert caught.value.message == (
        "lr_find does not read num_epochs=5, warmup_steps=3: the ramp sets its rates and "
        "length (start_lr, end_lr, num_steps) and it neither validates nor checkpoints; "
        "leave them out"
    )

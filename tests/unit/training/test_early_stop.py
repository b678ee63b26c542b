import math

import pytest

from model_trainer.core.contracts.model import EpochMetrics
from model_trainer.core.jobs.report import RunHistory, best_point, draw_curves
from model_trainer.core.training.checkpoint import is_new_best
from model_trainer.core.training.early_stop import (
    NEVER,
    EarlyStopping,
    epochs_without_improvement,
    should_stop,
    stop_reason,
    watched_loss,
)


def epoch(number: int, loss: float, val_loss: float | None) -> EpochMetrics:
    return {
        "epoch": number,
        "global_step": 4 * number,
        "steps": 4,
        "elapsed_s": 1.0,
        "loss": loss,
        "perplexity": math.exp(loss),
        "val_loss": val_loss,
        "val_perplexity": None if val_loss is None else math.exp(val_loss),
        "tokens_per_second": 10.0,
        "learning_rate": 1e-3,
    }


def history(*val_losses: float) -> list[EpochMetrics]:
    return [epoch(i + 1, 9.0, loss) for i, loss in enumerate(val_losses)]


def test_the_watched_loss_is_the_validation_loss_else_the_training_loss() -> None:
    assert watched_loss(epoch(1, 3.0, 2.0)) == 2.0
    assert watched_loss(epoch(1, 3.0, None)) == 3.0


@pytest.mark.parametrize(
    ("losses", "min_delta", "since"),
    [
        ((), 0.0, 0),
        ((2.0,), 0.0, 0),
        ((2.0, 2.5, 2.4), 0.0, 2),
        ((2.0, 2.5, 1.9), 0.0, 0),
        ((2.0, 1.95, 1.9), 0.1, 2),
        ((2.0, 2.0), 0.0, 1),
    ],
)
def test_epochs_without_improvement_count_from_the_last_improvement(
    losses: tuple[float, ...], min_delta: float, since: int
) -> None:
    assert epochs_without_improvement(history(*losses), min_delta) == since


def test_a_run_stops_after_patience_epochs_without_improvement() -> None:
    rule: EarlyStopping = {"patience": 2, "min_delta": 0.0}
    assert not should_stop(history(2.0, 2.5), rule)
    assert should_stop(history(2.0, 2.5, 2.6), rule)
    assert not should_stop(history(2.0, 2.5, 2.6), NEVER)
    assert stop_reason(history(2.0, 2.5, 2.6), 3, rule) == "completed"
    assert stop_reason(history(2.0, 2.5, 2.6), 5, rule) == "early_stopping"
    assert stop_reason(history(2.0, 2.5), 5, rule) == "cancelled"


def test_a_new_best_is_strictly_lower_than_every_epoch_before() -> None:
    assert not is_new_best([])
    assert is_new_best(history(2.0))
    assert is_new_best(history(2.0, 1.5))
    assert not is_new_best(history(2.0, 2.0))
    assert not is_new_best(history(2.0, 1.5, 1.7))


def test_the_report_marks_the_lowest_validation_loss() -> None:
    history: RunHistory = {
        "steps": [],
        "epochs": [
            {"epoch": 1, "step": 4, "train_loss": 3.0, "val_loss": 2.5},
            {"epoch": 2, "step": 8, "train_loss": 2.0, "val_loss": None},
            {"epoch": 3, "step": 12, "train_loss": 1.5, "val_loss": 2.0},
            {"epoch": 4, "step": 16, "train_loss": 1.0, "val_loss": 2.0},
        ],
        "loss_unit": "char",
    }
    assert best_point(history) == (12, 2.0)
    assert best_point({**history, "epochs": history["epochs"][1:2]}) is None
    assert draw_curves(history).startswith(b"\x89PNG")

import math

from model_trainer.core.contracts.model import EpochMetrics
from model_trainer.core.training.outcome import train_outcome


def epoch(number: int, val_loss: float | None) -> EpochMetrics:
    return {
        "epoch": number,
        "global_step": 10 * number,
        "steps": 10,
        "elapsed_s": 2.0,
        "loss": 3.0 / number,
        "perplexity": math.exp(3.0 / number),
        "val_loss": val_loss,
        "val_perplexity": None if val_loss is None else math.exp(val_loss),
        "tokens_per_second": 500.0 * number,
        "learning_rate": 1e-3,
    }


def test_the_outcome_takes_the_last_epochs_figures() -> None:
    history = [epoch(1, 3.5), epoch(2, None)]
    assert train_outcome(
        history=history, steps=20, loss_unit="char", out_dir="runs/r", num_epochs=2
    ) == {
        "loss": 1.5,
        "perplexity": math.exp(1.5),
        "val_loss": None,
        "val_perplexity": None,
        "loss_unit": "char",
        "steps": 20,
        "epochs_completed": 2,
        "tokens_per_second": 1000.0,
        "out_dir": "runs/r",
        "cancelled": False,
        "stop_reason": "completed",
    }
    stopped = train_outcome(
        history=history[:1], steps=13, loss_unit="token", out_dir="", num_epochs=2
    )
    assert (stopped["val_loss"], stopped["val_perplexity"]) == (3.5, math.exp(3.5))
    assert (stopped["epochs_completed"], stopped["steps"], stopped["cancelled"]) == (1, 13, True)


def test_a_run_without_a_finished_epoch_has_a_nan_loss() -> None:
    bare = train_outcome(history=[], steps=4, loss_unit="token", out_dir="o", num_epochs=1)
    assert math.isnan(bare["loss"])
    assert math.isnan(bare["perplexity"])
    assert {key: value for key, value in bare.items() if key not in ("loss", "perplexity")} == {
        "val_loss": None,
        "val_perplexity": None,
        "loss_unit": "token",
        "steps": 4,
        "epochs_completed": 0,
        "tokens_per_second": 0.0,
        "out_dir": "o",
        "cancelled": True,
        "stop_reason": "cancelled",
    }

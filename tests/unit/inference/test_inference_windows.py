import pytest

from model_trainer.core.inference.windows import (
    ACCELERATOR_WINDOWS_PER_BATCH,
    CPU_WINDOWS_PER_BATCH,
    plan_windows,
    stride_of,
    windows_per_batch,
)


def test_short_text_is_one_window() -> None:
    assert plan_windows(5, 8) == [{"start": 0, "end": 5, "first_scored": 0}]
    assert plan_windows(8, 8) == [{"start": 0, "end": 8, "first_scored": 0}]


def test_long_text_windows_by_hand() -> None:
    assert plan_windows(11, 4) == [
        {"start": 0, "end": 4, "first_scored": 0},
        {"start": 2, "end": 6, "first_scored": 4},
        {"start": 4, "end": 8, "first_scored": 6},
        {"start": 6, "end": 10, "first_scored": 8},
        {"start": 7, "end": 11, "first_scored": 10},
    ]


@pytest.mark.parametrize("context", [1, 2, 3, 4, 7, 8, 16])
@pytest.mark.parametrize("positions", [1, 2, 5, 16, 17, 31, 32, 33, 100])
def test_every_position_scored_once_with_half_a_context_of_history(
    positions: int, context: int
) -> None:
    windows = plan_windows(positions, context)
    scored = [p for w in windows for p in range(w["first_scored"], w["end"])]
    assert scored == list(range(positions))
    least = context - stride_of(context) + 1
    for w in windows:
        assert w["start"] <= w["first_scored"] < w["end"]
        assert w["end"] - w["start"] == min(context, positions)
        # history of the first scored position: positions start..first_scored, inclusive
        history = w["first_scored"] - w["start"] + 1
        assert w["start"] == 0 or history >= least
        assert least > context / 2


def test_windows_per_batch_bounds_logits() -> None:
    assert windows_per_batch(512, 512, accelerator=False) == CPU_WINDOWS_PER_BATCH
    assert windows_per_batch(512, 512, accelerator=True) == ACCELERATOR_WINDOWS_PER_BATCH
    assert windows_per_batch(16, 100, accelerator=True) == ACCELERATOR_WINDOWS_PER_BATCH
    assert windows_per_batch(1024, 50257, accelerator=True) == 1
    assert windows_per_batch(512, 2048, accelerator=True) == 16
    assert windows_per_batch(512, 8192, accelerator=False) == 4

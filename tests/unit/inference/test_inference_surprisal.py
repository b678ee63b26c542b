import math

import pytest
import torch

from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.inference.surprisal import (
    charge_empty_spans,
    check_tiling,
    empty_scores,
    put_scores,
    spread_over_chars,
    token_scores,
)


def _bounds(spans: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    table = torch.tensor(spans, dtype=torch.long).reshape(-1, 2)
    return table[:, 0], table[:, 1]


def test_token_scores_nll_rank_and_top_k() -> None:
    torch.manual_seed(0)
    logits = torch.randn(20, 7)
    targets = torch.randint(0, 7, (20,))
    scores = token_scores(logits, targets, 3)
    logp = torch.log_softmax(logits, dim=-1)
    torch.testing.assert_close(scores["nll"], -logp[torch.arange(20), targets])
    order = torch.argsort(logits, dim=-1, descending=True)
    expected_rank = (order == targets[:, None]).int().argmax(dim=-1) + 1
    assert scores["rank"].tolist() == expected_rank.tolist()
    assert ((scores["rank"] == 1) == (logits.argmax(dim=-1) == targets)).all()
    assert scores["top_ids"][:, 0].tolist() == logits.argmax(dim=-1).tolist()
    probs = scores["top_probs"]
    assert (probs[:, :-1] >= probs[:, 1:]).all()
    torch.testing.assert_close(probs, logp.exp().gather(1, scores["top_ids"]))


def test_rank_breaks_ties_like_argmax() -> None:
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0], [1.0, 3.0, 3.0, 0.0]])
    scores = token_scores(logits, torch.tensor([1, 2]), None)
    assert scores["rank"].tolist() == [1, 2]
    assert logits.argmax(dim=-1).tolist() == [1, 1]
    assert scores["top_ids"].shape == (2, 0)


def test_put_scores_fills_in_order() -> None:
    logits = torch.randn(5, 4)
    targets = torch.tensor([0, 1, 2, 3, 0])
    whole = token_scores(logits, targets, 2)
    parts = empty_scores(5, 2)
    put_scores(parts, 2, token_scores(logits[2:], targets[2:], 2))
    put_scores(parts, 0, token_scores(logits[:2], targets[:2], 2))
    assert parts["rank"].dtype == parts["top_ids"].dtype == torch.int32
    for key in ("nll", "rank", "top_ids", "top_probs"):
        torch.testing.assert_close(parts[key], whole[key].to(parts[key].dtype))
    assert empty_scores(3, None)["top_ids"].shape == (3, 0)


@pytest.mark.parametrize(
    ("spans", "num_chars", "where"),
    [
        ([(0, 2), (3, 4)], 4, "span 1 is (3, 4)"),
        ([(0, 2), (1, 4)], 4, "span 1 is (1, 4)"),
        ([(0, 2), (2, 1)], 2, "span 1 is (2, 1)"),
        ([(0, 2), (2, 3)], 4, "end at character 3 of a text of 4"),
        ([], 1, "end at character 0 of a text of 1"),
    ],
)
def test_spans_that_do_not_tile_are_refused(
    spans: list[tuple[int, int]], num_chars: int, where: str
) -> None:
    with pytest.raises(ModelTrainerError) as info:
        check_tiling(*_bounds(spans), num_chars)
    assert info.value.code == "MODEL_INCOMPATIBLE"
    assert where in info.value.message


def test_empty_spans_charge_the_next_token_or_the_previous_at_the_end() -> None:
    starts, ends = _bounds([(0, 0), (0, 2), (2, 2), (2, 2), (2, 3), (3, 3)])
    values = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], dtype=torch.float64)
    assert charge_empty_spans(values, ends - starts).tolist() == [
        0.0,
        3.0,
        0.0,
        0.0,
        60.0,
        0.0,
    ]


def test_spread_over_chars_keeps_the_total() -> None:
    starts, ends = _bounds([(0, 3), (3, 3), (3, 4), (4, 6)])
    values = torch.tensor([3.0, 1.0, 0.5, 2.0], dtype=torch.float64)
    chars, tokens = spread_over_chars(values, starts, ends, 6)
    assert chars.tolist() == [1.0, 1.0, 1.0, 1.5, 1.0, 1.0]
    assert tokens.tolist() == [0, 0, 0, 2, 3, 3]
    assert math.isclose(float(chars.sum()), float(values.sum()))

import math

import torch

from model_trainer.core.inference.sampling import filter_logits, make_generator, sample_next


def _kept(logits: torch.Tensor) -> list[set[int]]:
    return [set(torch.nonzero(row > float("-inf")).flatten().tolist()) for row in logits]


def test_seeded_generator_repeats_and_unseeded_is_drawn_from_the_os() -> None:
    first = torch.rand(4, generator=make_generator(7, "cpu"))
    again = torch.rand(4, generator=make_generator(7, "cpu"))
    assert torch.equal(first, again)
    assert make_generator(None, "cpu").initial_seed() != make_generator(None, "cpu").initial_seed()


def test_top_k_keeps_exactly_k_largest() -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0, 4.0, 2.0], [3.0, 3.0, 3.0, 3.0, 3.0]])
    out = filter_logits(logits, temperature=1.0, top_k=2, top_p=1.0)
    assert _kept(out)[0] == {1, 3}
    assert len(_kept(out)[1]) == 2
    torch.testing.assert_close(out[0, 1], torch.tensor(5.0))


def test_temperature_scales_the_kept_logits() -> None:
    logits = torch.tensor([[0.0, 2.0, 4.0]])
    out = filter_logits(logits, temperature=2.0, top_k=3, top_p=1.0)
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 2.0]]))


def test_top_p_keeps_the_smallest_nucleus() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    assert _kept(filter_logits(logits, temperature=1.0, top_k=4, top_p=0.5)) == [{0}]
    assert _kept(filter_logits(logits, temperature=1.0, top_k=4, top_p=0.7)) == [{0, 1}]
    assert _kept(filter_logits(logits, temperature=1.0, top_k=4, top_p=0.81)) == [{0, 1, 2}]
    assert _kept(filter_logits(logits, temperature=1.0, top_k=4, top_p=1e-6)) == [{0}]
    # after top-k, the nucleus is taken from the renormalised distribution: 0.5 / 0.8 >= 0.6
    assert _kept(filter_logits(logits, temperature=1.0, top_k=4, top_p=0.6)) == [{0, 1}]
    assert _kept(filter_logits(logits, temperature=1.0, top_k=2, top_p=0.6)) == [{0}]


def test_sample_next_reports_model_probabilities_at_temperature_one() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]])
    tokens, probs = sample_next(
        logits, make_generator(0, "cpu"), temperature=0.5, top_k=1, top_p=1.0
    )
    assert tokens.tolist() == [3, 0]
    expected = math.exp(3.0) / sum(math.exp(x) for x in (0.0, 1.0, 2.0, 3.0))
    torch.testing.assert_close(probs, torch.tensor([expected, expected]))


def test_sampled_tokens_stay_inside_the_filters() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 50).repeat(2000, 1)
    generator = make_generator(3, "cpu")
    tokens, _ = sample_next(logits, generator, temperature=1.0, top_k=5, top_p=1.0)
    top5 = set(torch.topk(logits[0], 5).indices.tolist())
    assert set(tokens.tolist()) == top5
    probs = torch.softmax(logits[0], dim=-1)
    order = torch.argsort(probs, descending=True)
    nucleus = int((torch.cumsum(probs[order], 0) < 0.5).sum()) + 1
    tokens, _ = sample_next(logits, generator, temperature=1.0, top_k=50, top_p=0.5)
    assert set(tokens.tolist()) == set(order[:nucleus].tolist())


def test_banned_ids_are_never_sampled_even_when_likeliest() -> None:
    logits = torch.tensor([[9.0, 8.0, 1.0, 0.5]]).repeat(500, 1)
    kept = _kept(filter_logits(logits[:1], temperature=1.0, top_k=2, top_p=1.0, banned=[0]))
    assert kept == [{1, 2}]
    tokens, probs = sample_next(
        logits, make_generator(1, "cpu"), temperature=3.0, top_k=4, top_p=1.0, banned=[0, 1]
    )
    assert set(tokens.tolist()) == {2, 3}
    # The reported probabilities are still the model's, before any filter.
    full = torch.softmax(logits[0], dim=-1)
    torch.testing.assert_close(probs, full[tokens])

"""The inverse-CDF draw: exact frequencies, zero-probability tokens never drawn, non-finite input refused."""

import pytest
import torch

from components.model.sampling import draw, invert_cdf


def test_draw_matches_the_distribution():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3, 0.0]).expand(200_000, 5).contiguous()
    counts = torch.bincount(draw(probs, torch.Generator().manual_seed(0)), minlength=5).double() / 200_000
    assert counts[1] == 0 and counts[4] == 0
    # 4.5 standard errors (sqrt(p(1-p)/n) <= 0.0011) either side
    assert torch.allclose(counts, torch.tensor([0.1, 0.0, 0.6, 0.3, 0.0], dtype=torch.float64), atol=0.005)


def test_rows_draw_from_their_own_distribution():
    probs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert draw(probs, torch.Generator().manual_seed(1)).tolist() == [0, 2, 1]


def test_the_top_of_the_cdf_gives_the_last_possible_token():
    cdf = torch.tensor([[0.2, 0.7, 0.7, 0.7], [0.0, 0.5, 1.0, 1.0]])
    assert invert_cdf(cdf, torch.tensor([[0.7], [1.0]])).tolist() == [1, 2]   # never a zero-probability tail token
    assert invert_cdf(cdf, torch.tensor([[0.0], [0.0]])).tolist() == [0, 1]   # nor a zero-probability head token
    assert invert_cdf(cdf, torch.tensor([[0.2], [0.5]])).tolist() == [1, 2]   # a boundary belongs to the next token


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_probabilities_are_refused(bad):
    probs = torch.tensor([[0.5, 0.5], [bad, 0.5]])
    with pytest.raises(RuntimeError, match="inf or nan"):
        draw(probs, torch.Generator().manual_seed(0))


def test_warpers_keep_the_nucleus_penalise_seen_tokens_and_sharpen():
    from components.model.candidate import SamplingConfig
    from components.model.sampling import _warped, logits_warpers

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    seen = torch.tensor([[0]])
    assert logits_warpers(SamplingConfig(temperature=0.0, top_p=0.5)) == []          # greedy: untouched
    assert logits_warpers(SamplingConfig()) == []                                       # T 1, top-p 1, no penalty
    nucleus = torch.softmax(_warped(logits, seen, logits_warpers(SamplingConfig(top_p=0.7))), -1)
    assert nucleus[0, 2:].sum() == 0 and torch.allclose(nucleus[0, :2], torch.tensor([0.625, 0.375]))
    penalised = torch.softmax(_warped(logits, seen, logits_warpers(SamplingConfig(repetition_penalty=2.0))), -1)
    assert penalised[0, 0] < 0.5 and penalised[0, 1] > 0.3                            # token 0 was seen
    cold = torch.softmax(_warped(logits, seen, logits_warpers(SamplingConfig(temperature=0.5))), -1)
    assert cold[0, 0] > 0.5 and cold[0, 3] < 0.05

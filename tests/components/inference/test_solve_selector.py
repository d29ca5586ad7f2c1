"""`solve` answers with the configured selector: the same selector functions evaluation measures."""

from __future__ import annotations

import pytest

from components.inference.selection import SELECTORS, ProblemSamples
from components.inference.solve import solve
from components.rewards.grading import final_answer


@pytest.fixture(scope="module")
def rm(sft_tiny_dir):
    from components.model.reflective import ReflectiveModel

    return ReflectiveModel.load(sft_tiny_dir)


@pytest.mark.parametrize("selector", ["sprm_best", "sprm_vote", "majority", "logprob_best", "logprob_vote"])
def test_solve_picks_what_the_selector_picks(rm, selector):
    (sol,) = solve(rm, ["Compute 9-5."], 8, seed=3, selector=selector)
    cands = sol.candidates
    samples = ProblemSamples(tuple(final_answer(c.text) for c in cands), (False,) * len(cands),
                             tuple(c.score for c in cands), tuple(c.mean_logprob for c in cands))
    assert sol.chosen == SELECTORS[selector](samples)
    assert sol.answer == final_answer(cands[sol.chosen].text)


def test_logprob_best_takes_the_most_confident_candidate_and_unknown_selectors_are_refused(rm):
    picks = {s: solve(rm, ["Compute 9-5.", "Compute 3*4-2."], 8, seed=5, selector=s)
             for s in ("sprm_best", "logprob_best")}
    best_lp = [max(c.mean_logprob for c in sol.candidates) for sol in picks["logprob_best"]]
    assert [sol.candidates[sol.chosen].mean_logprob for sol in picks["logprob_best"]] == best_lp
    with pytest.raises(ValueError, match="unknown selector 'oracle'"):
        solve(rm, ["Compute 9-5."], 2, selector="oracle")

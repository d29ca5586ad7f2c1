"""Selectors against hand-computed cases: ties, None answers, candidates with no steps."""

import math

import pytest

from components.inference.selection import (SELECTORS, ProblemSamples, answer_key, logprob_best,
                                            logprob_weighted_vote, majority_vote, oracle, sprm_best,
                                            sprm_weighted_vote)


def samples(answers, correct=None, scores=None, logprobs=None):
    m = len(answers)
    return ProblemSamples(
        answers=tuple(answers),
        correct=tuple(correct if correct is not None else [False] * m),
        scores=tuple(scores if scores is not None else [0.0] * m),
        mean_logprobs=tuple(logprobs if logprobs is not None else [0.0] * m))


def test_answer_key_groups_equivalent_spellings():
    assert answer_key("025") == answer_key("25") == answer_key(" $25$ ")
    assert answer_key("2,125") == answer_key("2125")
    assert answer_key("\\text{7}") == "7"
    assert answer_key("-03") == "-3"
    assert answer_key(None) is None
    assert answer_key("\\frac{1}{2}") != answer_key("3")


def test_majority_picks_most_frequent_answer():
    s = samples(["4", "3", "4", "5"], correct=[False, True, False, False])
    assert majority_vote(s) == 0  # first candidate of the "4" group


def test_majority_groups_by_normalised_answer():
    s = samples(["25", "7", "025", "$25$"])
    assert majority_vote(s) == 0
    s = samples(["7", "025", "25"])
    assert majority_vote(s) == 1


def test_majority_tie_goes_to_the_answer_seen_first_and_ignores_scores():
    # "3" and "4" both get two votes; "4" has the larger summed score, but majority is head-free
    s = samples(["3", "4", "3", "4"], scores=[0.2, 0.5, 0.6, 0.4])
    assert majority_vote(s) == 0
    s = samples(["4", "3", "4", "3"], scores=[0.2, 0.5, 0.6, 0.4])
    assert majority_vote(s) == 0
    s = samples(["9", "3", "4", "4", "3"])
    assert majority_vote(s) == 1


def test_none_never_wins_a_vote_unless_all_none():
    s = samples([None, None, None, "5"], scores=[0.9, 0.9, 0.9, 0.1])
    assert majority_vote(s) == 3
    assert sprm_weighted_vote(s) == 3
    s = samples([None, None])
    assert majority_vote(s) == 0 and sprm_weighted_vote(s) == 0


def test_weighted_vote_sums_scores_per_answer():
    # "4" has three votes but sum 0.3; "3" has one vote with 0.9
    s = samples(["4", "3", "4", "4"], correct=[False, True, False, False], scores=[0.1, 0.9, 0.1, 0.1])
    assert sprm_weighted_vote(s) == 1
    assert majority_vote(s) == 0


def test_weighted_vote_with_all_zero_scores_reduces_to_majority():
    # candidates with no step have score 0: the weighted vote falls back to counts, then order
    s = samples(["3", "4", "4"], scores=[0.0, 0.0, 0.0])
    assert sprm_weighted_vote(s) == 1
    s = samples(["3", "4"], scores=[0.0, 0.0])
    assert sprm_weighted_vote(s) == 0


def test_weighted_vote_tie_on_sum_broken_by_votes_then_first():
    s = samples(["3", "4", "4"], scores=[0.6, 0.3, 0.3])
    assert sprm_weighted_vote(s) == 1  # sums tie at 0.6; "4" has more votes
    s = samples(["3", "4"], scores=[0.5, 0.5])
    assert sprm_weighted_vote(s) == 0


def test_confidence_weighted_vote_sums_geometric_mean_probabilities_per_answer():
    # "4": three votes of confidence e^-3 each (0.149 in all); "3": one vote of e^-0.1 (0.905)
    s = samples(["4", "3", "4", "4"], correct=[False, True, False, False], logprobs=[-3.0, -0.1, -3.0, -3.0])
    assert logprob_weighted_vote(s) == 1 and majority_vote(s) == 0
    # the scores play no part; NaN weighs 0; a None answer never wins while another is given
    s = samples([None, "5", "6"], scores=[0.9, 0.9, 0.0], logprobs=[0.0, math.nan, -4.0])
    assert logprob_weighted_vote(s) == 2
    s = samples(["3", "4"], logprobs=[-1.0, -1.0])
    assert logprob_weighted_vote(s) == 0  # sums and votes tie: the answer seen first


def test_best_of_n_by_score_and_by_logprob_ties_go_first():
    s = samples(["1", "2", "3"], scores=[0.3, 0.8, 0.8], logprobs=[-0.2, -0.9, -0.2])
    assert sprm_best(s) == 1
    assert logprob_best(s) == 0


def test_best_of_n_with_no_steps_and_nan():
    # score 0 (no step) loses to any positive score; NaN ranks lowest
    s = samples(["1", "2", "3"], scores=[0.0, math.nan, 0.01], logprobs=[math.nan, -3.0, -5.0])
    assert sprm_best(s) == 2
    assert logprob_best(s) == 1
    s = samples(["1", "2"], scores=[0.0, 0.0])
    assert sprm_best(s) == 0


def test_sprm_best_may_pick_a_none_answer():
    s = samples([None, "3"], correct=[False, True], scores=[0.9, 0.2])
    assert sprm_best(s) == 0


def test_oracle_is_any_correct():
    assert oracle(samples(["1", "2", "3"], correct=[False, False, True])) == 2
    assert oracle(samples(["1", "2"], correct=[False, False])) == 0


def test_selectors_registry_names_and_subset():
    assert set(SELECTORS) == {"majority", "sprm_best", "sprm_vote", "logprob_best", "logprob_vote", "oracle"}
    s = samples(["1", "2", "3"], correct=[True, False, True], scores=[0.1, 0.2, 0.3],
                logprobs=[-1.0, -2.0, -3.0])
    sub = s.subset([2, 0])
    assert sub.answers == ("3", "1") and sub.correct == (True, True) and sub.scores == (0.3, 0.1)
    assert s.with_scores([1, 0, 0]).scores == (1.0, 0.0, 0.0)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="scores has 1 entries"):
        ProblemSamples(("1", "2"), (True, False), (0.1,), (0.0, 0.0))
    with pytest.raises(ValueError, match="at least one candidate"):
        ProblemSamples((), (), (), ())

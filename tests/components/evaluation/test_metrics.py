"""Estimators against brute-force enumeration, bootstrap CIs and AUROC against hand cases."""

import math
from itertools import combinations

import numpy as np
import pytest

from components.evaluation.metrics import (bootstrap_ci, bucket_means, mean_tokens,
                                           method_accuracies, pass_at_k, per_problem_accuracy,
                                           pooled_auroc, problem_aurocs, subset_indices)
from components.inference.selection import SELECTORS, ProblemSamples
from components.tracking.stats import auroc


def random_problem(rng, m):
    answers = tuple(rng.choice(["1", "2", "3", None], p=[0.4, 0.3, 0.2, 0.1]) for _ in range(m))
    correct = tuple(a == "1" for a in answers)
    scores = tuple(float(x) for x in rng.choice([0.0, 0.2, 0.5, 0.9], size=m))
    logprobs = tuple(float(x) for x in rng.normal(size=m))
    return ProblemSamples(answers, correct, scores, logprobs, tuple(int(x) for x in rng.integers(5, 50, m)))


def brute_force(samples, n, select):
    subs = list(combinations(range(len(samples)), n))
    return sum(samples.subset(s).correct[select(samples.subset(s))] for s in subs) / len(subs)


@pytest.mark.parametrize("m,c,k", [(5, 2, 1), (5, 2, 3), (8, 0, 4), (8, 8, 2), (10, 3, 7), (32, 5, 8)])
def test_pass_at_k_equals_combinatorial_formula(m, c, k):
    expected = 1 - math.comb(m - c, k) / math.comb(m, k)
    assert pass_at_k(m, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_equals_oracle_selector_over_all_subsets():
    rng = np.random.default_rng(1)
    for _ in range(5):
        s = random_problem(rng, 7)
        for k in (1, 2, 4, 7):
            assert pass_at_k(7, sum(s.correct), k) == pytest.approx(brute_force(s, k, SELECTORS["oracle"]))


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k <= m"):
        pass_at_k(4, 1, 5)


def test_subset_indices_exact_when_few_and_random_otherwise():
    rng = np.random.default_rng(0)
    rows = subset_indices(5, 2, draws=100, rng=rng)
    assert rows.shape == (10, 2) and len({tuple(r) for r in rows}) == 10
    rows = subset_indices(32, 8, draws=50, rng=rng)
    assert rows.shape == (50, 8)
    assert all(len(set(r)) == 8 and list(r) == sorted(r) for r in rows)
    assert subset_indices(4, 4, 10, rng).tolist() == [[0, 1, 2, 3]]
    with pytest.raises(ValueError, match="N=5 with M=4"):
        subset_indices(4, 5, 10, rng)


def test_selector_estimates_equal_brute_force_when_enumerated():
    rng = np.random.default_rng(2)
    selectors = {k: v for k, v in SELECTORS.items() if k != "oracle"}
    for _ in range(6):
        s = random_problem(rng, 6)
        for n in (2, 3, 5):
            est = per_problem_accuracy(s, n, selectors, draws=1000, rng=np.random.default_rng(0))
            for name, select in selectors.items():
                assert est[name] == pytest.approx(brute_force(s, n, select)), (name, n)


def test_monte_carlo_estimate_is_unbiased():
    # C(12, 5) = 792 subsets > 20 draws: random subsets; averaged over seeds -> brute force
    rng = np.random.default_rng(3)
    s = random_problem(rng, 12)
    exact = brute_force(s, 5, SELECTORS["sprm_vote"])
    sel = {"sprm_vote": SELECTORS["sprm_vote"]}
    draws = [per_problem_accuracy(s, 5, sel, 20, np.random.default_rng(seed))["sprm_vote"]
             for seed in range(200)]
    assert np.mean(draws) == pytest.approx(exact, abs=0.02)
    assert np.std(draws) > 0  # really random, not enumerated


def test_n_equal_one_and_n_equal_m():
    s = ProblemSamples(("1", "2", "1", "2"), (True, False, True, False), (0.1, 0.9, 0.2, 0.3),
                       (0.0, -1.0, -2.0, -3.0))
    est = per_problem_accuracy(s, 1, SELECTORS, 10, np.random.default_rng(0))
    assert all(v == 0.5 for v in est.values())
    est = per_problem_accuracy(s, 4, SELECTORS, 10, np.random.default_rng(0))
    # all four: majority tie 2-2 goes to "1" (seen first) -> right; "2" has the larger summed
    # score (1.2 vs 0.3) -> the weighted vote is wrong; "1" has the larger summed confidence
    # (e^0 + e^-2 vs e^-1 + e^-3) -> the confidence-weighted vote is right
    assert est == {"majority": 1.0, "sprm_best": 0.0, "sprm_vote": 0.0, "logprob_best": 1.0,
                   "logprob_vote": 1.0, "oracle": 1.0}


def test_method_accuracies_shapes_and_determinism():
    rng = np.random.default_rng(4)
    problems = [random_problem(rng, 16) for _ in range(5)]
    a = method_accuracies(problems, [1, 2, 8, 16], SELECTORS, draws=30, seed=7)
    b = method_accuracies(problems, [1, 2, 8, 16], SELECTORS, draws=30, seed=7)
    assert ("pass", 1) in a and ("pass", 8) not in a
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert a[("majority", 16)].shape == (5,)
    # oracle grows with N; every method equals pass@1 at N=1
    assert np.all(a[("oracle", 16)] >= a[("oracle", 2)])
    for name in SELECTORS:
        assert np.allclose(a[(name, 1)], a[("pass", 1)])


def test_bootstrap_ci_hand_cases():
    e = bootstrap_ci([1.0, 1.0, 1.0], n_resamples=200, seed=0)
    assert (e.value, e.low, e.high, e.n_problems) == (1.0, 1.0, 1.0, 3)
    values = np.r_[np.ones(30), np.zeros(70)]
    e = bootstrap_ci(values, n_resamples=1000, seed=0)
    assert e.value == pytest.approx(0.3)
    assert e.low < 0.3 < e.high
    # normal approximation: half-width ~ 1.96 * sqrt(0.3*0.7/100) = 0.09
    assert (e.high - e.low) / 2 == pytest.approx(0.09, abs=0.02)
    assert bootstrap_ci(values, seed=0) == bootstrap_ci(values, seed=0)
    assert math.isnan(bootstrap_ci([]).value)


def test_bucket_means():
    out = bucket_means([1.0, 0.0, 1.0, 1.0], ["b", "a", "b", "a"])
    assert out == {"a": (0.5, 2), "b": (1.0, 2)}
    with pytest.raises(ValueError):
        bucket_means([1.0], ["a", "b"])


def test_auroc_hand_cases():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5, 0.5], [True, False, False]) == 0.5
    assert auroc([0.9, 0.8, 0.1, 0.8], [True, True, False, False]) == 0.875
    # candidates with no step (score 0) tie with each other
    assert auroc([0.0, 0.0, 0.7], [True, False, True]) == 0.75
    assert math.isnan(auroc([0.1, 0.2], [True, True]))


def test_auroc_equals_pair_counting():
    rng = np.random.default_rng(5)
    s = rng.choice([0.0, 0.1, 0.5, 0.7, 1.0], size=60)
    y = rng.random(60) < 0.4
    pos, neg = s[y], s[~y]
    pairs = [(1.0 if p > q else 0.5 if p == q else 0.0) for p in pos for q in neg]
    assert auroc(s, y) == pytest.approx(np.mean(pairs))


def test_pooled_auroc_and_tokens():
    a = ProblemSamples(("1", "2"), (True, False), (0.9, 0.1), (0.0, 0.0), (10, 20))
    b = ProblemSamples(("1", "2"), (False, True), (0.2, 0.8), (0.0, 0.0), (30, 40))
    assert pooled_auroc([a, b]) == 1.0
    assert mean_tokens([a, b]) == 25.0


def test_vectorised_best_of_n_matches_the_selectors_with_ties_and_nan():
    s = ProblemSamples(("1", "2", "3", "4", "5"), (False, True, True, False, True),
                       (0.5, 0.5, math.nan, 0.0, 0.2), (math.nan, -1.0, -1.0, -0.5, math.nan))
    for n in (2, 3, 4):
        est = per_problem_accuracy(s, n, SELECTORS, 100, np.random.default_rng(0))
        for name in ("sprm_best", "logprob_best"):
            assert est[name] == pytest.approx(brute_force(s, n, SELECTORS[name])), (name, n)


def test_within_problem_auroc_ignores_between_problem_ranking():
    # problem a: the easy one, all scores high; its one wrong candidate scores highest.
    # problem b: the hard one, all scores low; its one right candidate scores lowest.
    a = ProblemSamples(("1", "1", "2"), (True, True, False), (0.8, 0.8, 0.9), (-1.0, -1.0, -2.0))
    b = ProblemSamples(("3", "4", "4"), (True, False, False), (0.05, 0.1, 0.1), (-0.5, -1.0, -1.0))
    c = ProblemSamples(("5", "5"), (True, True), (0.5, 0.6), (-1.0, -1.0))   # no AUROC: all correct
    assert pooled_auroc([a, b, c]) > 0.5
    assert problem_aurocs([a, b, c]).tolist() == [0.0, 0.0]
    assert problem_aurocs([a, b, c], "mean_logprobs").tolist() == [1.0, 1.0]
    assert problem_aurocs([c]).size == 0

"""Estimators for method@N from M >= N samples per problem, bootstrap CIs, AUROC (docs/method.md section 4).

One generate call samples M candidates per problem (M = the largest N); every method at every
N <= M is estimated from those same samples:

- pass@1: the mean correctness of the M samples (unbiased for the policy's accuracy).
- oracle@N (pass@N): the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language
  Models Trained on Code", eq. 1): 1 - C(M-c, N) / C(M, N), with c correct samples of M.
- a selector@N (majority, sprm_best, sprm_vote, logprob_best) at N < M: the mean accuracy of the
  selector over size-N subsets of the M samples. When C(M, N) <= `draws` every subset is
  enumerated (exact); otherwise `draws` subsets are drawn uniformly without replacement
  (seeded). Because the M samples are i.i.d., a uniformly random N-subset is distributed as a
  fresh draw of N samples, so the subset average is an unbiased (Monte Carlo) estimate of the
  expected accuracy of the selector on N samples -- the same U-statistic idea as Chen et al.'s
  pass@k. We use random subsets rather than the M/N disjoint blocks: blocks give only M/N
  (e.g. 4 at N=8, M=32) correlated-looking draws and leave the variance high. At N = M the
  selector runs once on all M samples. Within a subset, candidates keep their sampling order
  (ties "go to the first" therefore go to a random candidate, as sampling order is random). All
  methods of one problem at one N see the SAME subsets (common random numbers), so differences
  between methods are not blurred by different draws.

Per-problem accuracies are then averaged over problems; `bootstrap_ci` resamples problems
(percentile intervals). `auroc` is the Mann-Whitney statistic of score vs correctness, ties
counted one half. `pooled_auroc` pools every candidate of every problem; `problem_aurocs`
gives the AUROC of each problem's own candidates over the problems with mixed outcomes. The
second is the one that matches the decision: best-of-N only ever compares candidates of ONE
problem, so a score that ranks easy problems above hard ones helps the pooled figure and does
nothing for selection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from components.inference.selection import ProblemSamples, Selector, logprob_best, sprm_best
from components.tracking.stats import auroc

PASS = "pass"
ORACLE = "oracle"
# Selectors that pick the first maximum of one per-candidate field: estimated without a loop.
_ARGMAX_FIELDS: dict[Selector, str] = {sprm_best: "scores", logprob_best: "mean_logprobs"}


def pass_at_k(m: int, c: int, k: int) -> float:
    """Unbiased pass@k from m samples with c correct (Chen et al. 2021), numerically stable.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 2), pass_at_k(4, 0, 3), pass_at_k(4, 3, 2)
    (0.25, 0.5, 0.0, 1.0)
    """
    if not 0 <= c <= m or not 1 <= k <= m:
        raise ValueError(f"pass_at_k needs 0 <= c <= m and 1 <= k <= m, got m={m} c={c} k={k}")
    if m - c < k:
        return 1.0
    # 1 - C(m-c, k)/C(m, k) = 1 - prod_{i=m-c+1}^{m} (1 - k/i)
    return float(1.0 - np.prod(1.0 - k / np.arange(m - c + 1, m + 1)))


def subset_indices(m: int, n: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Index rows [R, n] of size-n subsets of range(m), each sorted (sampling order kept).

    All C(m, n) subsets when that is <= `draws` (exact); else `draws` uniform random subsets.
    """
    if not 1 <= n <= m:
        raise ValueError(f"need 1 <= N <= M samples per problem, got N={n} with M={m}")
    if n == m:
        return np.arange(m)[None, :]
    if math.comb(m, n) <= draws:
        from itertools import combinations

        return np.array(list(combinations(range(m), n)), dtype=np.int64)
    keys = rng.random((draws, m))                            # [R, m]
    return np.sort(np.argsort(keys, axis=1)[:, :n], axis=1)  # [R, n]


def per_problem_accuracy(samples: ProblemSamples, n: int, selectors: Mapping[str, Selector],
                         draws: int, rng: np.random.Generator) -> dict[str, float]:
    """Expected accuracy at N of each method on one problem (see the module docstring).

    "oracle" in `selectors` is computed exactly by pass@k; at N = 1 every method is pass@1.
    """
    m = len(samples)
    correct = np.asarray(samples.correct, dtype=bool)
    out: dict[str, float] = {}
    to_run = {}
    for name, select in selectors.items():
        if name == ORACLE:
            out[name] = pass_at_k(m, int(correct.sum()), n)
        elif n == 1:  # one candidate: every selector returns it
            out[name] = float(correct.mean())
        else:
            to_run[name] = select
    if to_run:
        rows = subset_indices(m, n, draws, rng)                      # [R, n]
        looped = {}
        for name, select in to_run.items():
            field_name = _ARGMAX_FIELDS.get(select)
            if field_name is None:
                looped[name] = select
                continue
            # best-of-N by a per-candidate value: vectorised, same rule (first max, NaN lowest)
            values = np.asarray(getattr(samples, field_name), dtype=np.float64)
            values = np.where(np.isnan(values), -np.inf, values)[rows]   # [R, n]
            picked = rows[np.arange(len(rows)), values.argmax(axis=1)]   # [R]
            out[name] = float(correct[picked].mean())
        hits = dict.fromkeys(looped, 0)
        for row in rows if looped else ():
            sub = samples.subset(row)
            for name, select in looped.items():
                hits[name] += sub.correct[select(sub)]
        out.update({name: h / len(rows) for name, h in hits.items()})
    return out


def method_accuracies(problems: Sequence[ProblemSamples], ns: Sequence[int],
                      selectors: Mapping[str, Selector], draws: int = 200,
                      seed: int = 0) -> dict[tuple[str, int], np.ndarray]:
    """Per-problem accuracy arrays [P] for each (method, N), plus ("pass", 1) = pass@1.

    The subsets of problem p at size N come from a generator seeded by (seed, p, N), so results
    do not depend on which other methods or sets are evaluated.
    """
    out: dict[tuple[str, int], np.ndarray] = {
        (PASS, 1): np.array([np.mean(s.correct) for s in problems], dtype=np.float64)}
    for n in ns:
        rows = [per_problem_accuracy(s, n, selectors, draws, np.random.default_rng([seed, p, n]))
                for p, s in enumerate(problems)]
        for name in selectors:
            out[(name, n)] = np.array([r[name] for r in rows], dtype=np.float64)
    return out


@dataclass(frozen=True)
class Estimate:
    """A mean over problems with its bootstrap percentile interval."""

    value: float
    low: float
    high: float
    n_problems: int


def bootstrap_ci(values: Sequence[float] | np.ndarray, n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> Estimate:
    """Mean of per-problem `values` [P] with a percentile bootstrap CI over problems (seeded;
    `scipy.stats.bootstrap`).

    The same seed and P give the same resamples, so intervals of different methods are paired.
    """
    from scipy.stats import bootstrap

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    if v.size == 1 or np.all(v == v[0]):      # no spread to resample (scipy warns and returns NaN)
        return Estimate(float(v.mean()), float(v[0]), float(v[0]), int(v.size))
    ci = bootstrap((v,), np.mean, n_resamples=n_resamples, confidence_level=level, method="percentile",
                   random_state=np.random.default_rng(seed), vectorized=True).confidence_interval
    return Estimate(float(v.mean()), float(ci.low), float(ci.high), int(v.size))


def bucket_means(values: Sequence[float] | np.ndarray, buckets: Sequence[str]) -> dict[str, tuple[float, int]]:
    """{bucket: (mean of values, problem count)}, buckets sorted by name."""
    v = np.asarray(values, dtype=np.float64)
    if len(buckets) != v.size:
        raise ValueError(f"bucket_means: {len(buckets)} buckets for {v.size} values")
    labels = np.asarray(buckets, dtype=object)
    return {b: (float(v[labels == b].mean()), int((labels == b).sum())) for b in sorted(set(buckets))}


def pooled_auroc(problems: Sequence[ProblemSamples]) -> float:
    """AUROC of trajectory score vs correctness over every candidate of every problem."""
    scores = [x for p in problems for x in p.scores]
    labels = [x for p in problems for x in p.correct]
    return auroc(scores, labels)


def problem_aurocs(problems: Sequence[ProblemSamples], field: str = "scores") -> np.ndarray:
    """AUROC of `field` vs correctness within each problem with mixed outcomes, as an array [P'].

    Only problems with at least one correct and one incorrect candidate have an AUROC; the others
    are left out. `field` is a per-candidate value of `ProblemSamples` (`scores` for a head,
    `mean_logprobs` for confidence). The within-problem AUROC is the mean of this array;
    `bootstrap_ci` over it gives its interval.

    >>> a = ProblemSamples(("1", "2"), (True, False), (0.9, 0.1), (-1.0, -0.5))
    >>> b = ProblemSamples(("1", "2"), (True, True), (0.2, 0.3), (-1.0, -0.5))
    >>> problem_aurocs([a, b]).tolist(), problem_aurocs([a, b], "mean_logprobs").tolist()
    ([1.0], [0.0])
    """
    return np.array([auroc(getattr(p, field), p.correct) for p in problems
                     if any(p.correct) and not all(p.correct)], dtype=np.float64)


def mean_tokens(problems: Sequence[ProblemSamples]) -> float:
    """Mean completion length in tokens over sampled candidates (zero-token placeholders of
    prompts that were not sampled are left out; NaN when no length is known)."""
    lengths = [x for p in problems for x in p.n_tokens if x > 0]
    return float(np.mean(lengths)) if lengths else float("nan")

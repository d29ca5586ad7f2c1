"""Choosing one answer among N sampled candidates (docs/method.md section 4).

Every selector reads one problem's candidates as a `ProblemSamples` (plain per-candidate lists,
so the same samples feed every method and every ablation) and returns the INDEX of the chosen
candidate; the method is right iff that candidate is correct. Methods:

- `majority_vote`: the most frequent final answer (self-consistency; Wang et al. 2023).
- `sprm_best`: the candidate with the highest SPRM trajectory score (the paper's best-of-N).
- `sprm_weighted_vote`: the answer with the largest SUM of trajectory scores (an improvement,
  docs/method.md section 4).
- `logprob_best`: the candidate with the highest mean token log-prob (a head-free confidence
  baseline the paper does not report; docs/method.md section 8).
- `logprob_vote`: the answer with the largest SUM of exp(mean token log-prob), each candidate's
  geometric-mean token probability in (0, 1]: the confidence-weighted vote, the head-free twin
  of `sprm_vote` (docs/method.md section 4).
- `oracle`: any correct candidate (the ceiling, pass@N).

Answers are grouped by `answer_key`: `components.rewards.grading.normalize_answer` string
equality, plus integers compared by value ("025" == "25", as AIME answers are). Two answers that
only math-verify would equate (`1/2` vs `\\frac{1}{2}`) land in different groups; on the synthetic
task (integer answers) grouping is exact.

Deterministic tie rules (documented contract, tested):
- votes: a `None` answer (no `</think>` or no box) never wins unless every answer is None.
  Majority: among answers with equal votes the one that appears first wins. Candidates come in
  sampling order, which is random, so this is a uniformly random tie-break; it deliberately
  ignores SPRM scores so that majority stays a head-free baseline (breaking ties by score made
  majority@2 equal sprm_best@2 in a trial here). Score-weighted vote: summed score, then vote
  count, then first appearance (with all scores 0, e.g. no steps, it is the majority vote);
  the confidence-weighted vote the same with exp(mean log-prob) for the score (NaN counts 0).
- best-of-N: ties on the maximum go to the first candidate; NaN scores/log-probs rank lowest.
- a vote returns the first candidate of the winning group (all of a group share one answer).

>>> s = ProblemSamples(answers=("3", "4", "4", None), correct=(True, False, False, False),
...                    scores=(0.9, 0.2, 0.3, 0.95), mean_logprobs=(-0.1, -0.5, -0.4, -2.0))
>>> majority_vote(s), sprm_best(s), sprm_weighted_vote(s), logprob_best(s), logprob_weighted_vote(s), oracle(s)
(1, 3, 0, 0, 1, 0)
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from components.rewards.grading import normalize_answer

_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class ProblemSamples:
    """One problem's M candidates as parallel tuples (index i = candidate i).

    `scores` are trajectory scores already aggregated from step scores (0.0 for a candidate with
    no step, docs/method.md section 2); `mean_logprobs` are mean token log-probs of the completion.
    `n_tokens` (optional) is the completion length in tokens, for compute-scaling views.
    """

    answers: tuple[str | None, ...]
    correct: tuple[bool, ...]
    scores: tuple[float, ...]
    mean_logprobs: tuple[float, ...]
    n_tokens: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        m = len(self.answers)
        if m == 0:
            raise ValueError("ProblemSamples: a problem needs at least one candidate")
        lengths = {"correct": len(self.correct), "scores": len(self.scores),
                   "mean_logprobs": len(self.mean_logprobs)}
        if self.n_tokens:
            lengths["n_tokens"] = len(self.n_tokens)
        for name, n in lengths.items():
            if n != m:
                raise ValueError(f"ProblemSamples: {name} has {n} entries but answers has {m}")

    def __len__(self) -> int:
        return len(self.answers)

    def subset(self, indices: Sequence[int]) -> ProblemSamples:
        """The candidates at `indices`, in that order."""
        pick = [int(i) for i in indices]
        return ProblemSamples(
            answers=tuple(self.answers[i] for i in pick),
            correct=tuple(self.correct[i] for i in pick),
            scores=tuple(self.scores[i] for i in pick),
            mean_logprobs=tuple(self.mean_logprobs[i] for i in pick),
            n_tokens=tuple(self.n_tokens[i] for i in pick) if self.n_tokens else (),
        )

    def with_scores(self, scores: Sequence[float]) -> ProblemSamples:
        """Same candidates, other trajectory scores (for head/aggregation ablations)."""
        return ProblemSamples(self.answers, self.correct, tuple(float(s) for s in scores),
                              self.mean_logprobs, self.n_tokens)


Selector = Callable[[ProblemSamples], int]


@functools.lru_cache(maxsize=1 << 16)  # pure; votes over many subsets re-key the same answers
def answer_key(answer: str | None) -> str | None:
    """The grouping key of an answer: normalised text, integers by value; None stays None.

    >>> answer_key(" $2,125$ "), answer_key("025"), answer_key("\\\\text{5}"), answer_key(None)
    ('2125', '25', '5', None)
    """
    if answer is None:
        return None
    key = normalize_answer(answer)
    if _INTEGER.fullmatch(key):
        key = str(int(key))
    return key


def _rank_value(x: float) -> float:
    return -math.inf if x is None or math.isnan(x) else float(x)


def _argmax_first(values: Sequence[float]) -> int:
    """Index of the maximum; ties go to the first; NaN ranks lowest."""
    best, best_i = -math.inf, 0
    for i, v in enumerate(values):
        r = _rank_value(v)
        if r > best:
            best, best_i = r, i
    return best_i


def _groups(samples: ProblemSamples) -> list[tuple[str | None, list[int]]]:
    """(key, candidate indices) per distinct answer, in order of first appearance."""
    groups: dict[str | None, list[int]] = {}
    for i, a in enumerate(samples.answers):
        groups.setdefault(answer_key(a), []).append(i)
    return list(groups.items())


def _vote(samples: ProblemSamples, weights: Sequence[float] | None) -> int:
    """The first candidate of the winning answer: most `weights` summed (None: most votes), then
    votes, then the answer seen first; a weight below 0 or NaN counts 0."""
    groups = _groups(samples)
    answered = [(k, idx) for k, idx in groups if k is not None]
    if not answered:  # every answer is None: nothing to vote on, keep the first candidate
        return 0
    best_rank: tuple[float, float, int] | None = None
    best_first = 0
    for order, (_, idx) in enumerate(answered):
        count = float(len(idx))
        if weights is not None:
            weight_sum = sum(max(_rank_value(weights[i]), 0.0) for i in idx)
            rank = (weight_sum, count, -order)  # larger is better; -order prefers earlier groups
        else:
            rank = (count, 0.0, -order)
        if best_rank is None or rank > best_rank:
            best_rank, best_first = rank, idx[0]
    return best_first


def majority_vote(samples: ProblemSamples) -> int:
    """The first candidate of the most frequent answer (ties: the answer seen first; no scores)."""
    return _vote(samples, None)


def sprm_weighted_vote(samples: ProblemSamples) -> int:
    """The first candidate of the answer with the largest summed SPRM score (ties: votes, first)."""
    return _vote(samples, samples.scores)


def logprob_weighted_vote(samples: ProblemSamples) -> int:
    """The first candidate of the answer with the largest summed exp(mean token log-prob) (ties:
    votes, first): confidence weighs each vote, as the SPRM score does in `sprm_weighted_vote`."""
    return _vote(samples, [math.exp(x) for x in samples.mean_logprobs])   # NaN stays NaN: _vote counts it 0


def sprm_best(samples: ProblemSamples) -> int:
    """The candidate with the highest SPRM trajectory score (ties: first)."""
    return _argmax_first(samples.scores)


def logprob_best(samples: ProblemSamples) -> int:
    """The candidate with the highest mean token log-prob (ties: first)."""
    return _argmax_first(samples.mean_logprobs)


def oracle(samples: ProblemSamples) -> int:
    """The first correct candidate, else the first candidate (pass@N: right iff any is right)."""
    for i, ok in enumerate(samples.correct):
        if ok:
            return i
    return 0


# Selectors by the metric name they report under (`eval/<set>/<name>_at_<N>`).
SELECTORS: dict[str, Selector] = {
    "majority": majority_vote,
    "sprm_best": sprm_best,
    "sprm_vote": sprm_weighted_vote,
    "logprob_best": logprob_best,
    "logprob_vote": logprob_weighted_vote,
    "oracle": oracle,
}
# Methods that read the SPRM scores (skipped when a model has no trained head).
SPRM_METHODS: tuple[str, ...] = ("sprm_best", "sprm_vote")
# Selectors a served model may answer with (everything but the oracle, which needs the reference).
SERVED_SELECTORS: tuple[str, ...] = ("sprm_best", "sprm_vote", "majority", "logprob_best", "logprob_vote")


def choose(selector: str, answers: Sequence[str | None], scores: Sequence[float],
           mean_logprobs: Sequence[float]) -> int:
    """The index `selector` picks among one problem's candidates when correctness is unknown
    (serving, `reflect solve`): the same functions, so what is served is what is evaluated.

    >>> choose("sprm_best", ["3", "4", "4"], [0.9, 0.5, 0.6], [-1.0, -0.1, -0.2])
    0
    >>> choose("sprm_vote", ["3", "4", "4"], [0.9, 0.5, 0.6], [-1.0, -0.1, -0.2])
    1
    >>> choose("oracle", ["3"], [0.9], [-1.0])
    Traceback (most recent call last):
    ...
    ValueError: unknown selector 'oracle'; choose one of sprm_best, sprm_vote, majority, logprob_best, logprob_vote
    """
    if selector not in SERVED_SELECTORS:
        raise ValueError(f"unknown selector {selector!r}; choose one of {', '.join(SERVED_SELECTORS)}")
    samples = ProblemSamples(tuple(answers), (False,) * len(answers), tuple(float(s) for s in scores),
                             tuple(float(x) for x in mean_logprobs))
    return SELECTORS[selector](samples)

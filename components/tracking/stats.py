"""The verifier statistics training and evaluation both log, in one place.

AUROC is scikit-learn's `roc_auc_score` (the Mann-Whitney probability that a random correct
trajectory scores above a random incorrect one, ties 1/2), with this project's two rules around it:
NaN when one class is empty (a step or problem with no correct, or no incorrect, trajectory has no
AUROC), and a NaN score ranks below every real score (a head that produced no score is never best).
The within-group AUROC averages it over groups with mixed outcomes: the comparison best-of-N makes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def arrays(scores: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float64 and labels as bool, flat; a length mismatch is refused."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(correct, dtype=bool).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} scores for {y.size} labels")
    return s, y


def auroc(scores: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve of `scores` for separating correct from incorrect; NaN if one class.

    >>> auroc([0.9, 0.8, 0.1, 0.8], [True, True, False, False])
    0.875
    >>> auroc([0.5, float("nan")], [True, False]), auroc([0.5, 0.5], [True, False]), auroc([0.3], [True])
    (1.0, 0.5, nan)
    """
    from sklearn.metrics import roc_auc_score

    s, y = arrays(scores, correct)
    if y.all() or not y.any():
        return math.nan
    nan = np.isnan(s)
    if nan.any():
        s = np.where(nan, (s[~nan].min() - 1.0) if (~nan).any() else 0.0, s)
    return float(roc_auc_score(y, s))


def within_group_auroc(scores: Sequence[float], correct: Sequence[bool], group_size: int) -> float:
    """Mean AUROC within consecutive groups of `group_size` trajectories (one prompt each).

    Groups whose trajectories are all correct or all incorrect have no AUROC and are left out; NaN
    when no group is mixed.

    >>> within_group_auroc([0.9, 0.1, 0.2, 0.8, 0.5, 0.5], [True, False, True, False, True, True], 2)
    0.5
    """
    s, y = arrays(scores, correct)
    if group_size < 1 or s.size % group_size:
        raise ValueError(f"{s.size} rollouts do not split into groups of {group_size}")
    values = [auroc(s[i:i + group_size], y[i:i + group_size]) for i in range(0, s.size, group_size)]
    mixed = [v for v in values if not math.isnan(v)]
    return float(np.mean(mixed)) if mixed else math.nan


def score_gap(scores: Sequence[float], correct: Sequence[bool]) -> float:
    """Mean score of correct minus mean score of incorrect trajectories; NaN if a class is empty."""
    s, y = arrays(scores, correct)
    if not y.any() or y.all():
        return math.nan
    return float(s[y].mean() - s[~y].mean())

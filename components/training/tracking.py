"""What the training run tracks about the SPRM head (docs/method.md section 3, the "aha moment").

Per step, on that step's rollouts: the score gap (mean trajectory score of correct minus incorrect
rollouts), the head's AUROC (correct vs incorrect, ties count 1/2) pooled over the step and within
each GRPO group (one prompt's G rollouts, averaged over the groups with mixed outcomes: the
comparison best-of-N makes), and its accuracy at threshold 0.5. Over the run: the aha step (the first step from which the gap stays above a threshold for a
window of steps) and a warning when the dynamic weight never keeps one of the two classes.
Plain numpy; NaN marks "undefined" (e.g. no correct rollout this step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from components.tracking.stats import arrays, auroc, score_gap, within_group_auroc


def accuracy_at(scores: Sequence[float], correct: Sequence[bool], threshold: float = 0.5) -> float:
    """Share of trajectories whose prediction `score > threshold` matches the outcome; NaN if empty."""
    s, y = arrays(scores, correct)
    if s.size == 0:
        return math.nan
    return float(((s > threshold) == y).mean())


@dataclass(frozen=True)
class HeadMetrics:
    """The head's standing on one step's rollouts (trajectory scores vs outcome labels)."""

    score_gap: float
    auroc: float
    accuracy: float
    auroc_within: float       # mean AUROC within the step's GRPO groups (NaN if none is mixed)
    mean_correct: float       # mean score of correct rollouts (NaN if none)
    mean_incorrect: float     # mean score of incorrect rollouts (NaN if none)


def head_metrics(scores: Sequence[float], correct: Sequence[bool], group_size: int,
                 threshold: float = 0.5) -> HeadMetrics:
    """Score gap, pooled and within-group AUROC, accuracy and per-class mean scores for one step's
    rollouts, which come as consecutive groups of `group_size` (one prompt each)."""
    s, y = arrays(scores, correct)
    return HeadMetrics(
        score_gap=score_gap(s, y),
        auroc=auroc(s, y),
        accuracy=accuracy_at(s, y, threshold),
        auroc_within=within_group_auroc(s, y, group_size),
        mean_correct=float(s[y].mean()) if y.any() else math.nan,
        mean_incorrect=float(s[~y].mean()) if (~y).any() else math.nan,
    )


def detect_aha(gaps: Sequence[float], threshold: float, window: int, first_step: int = 0) -> int | None:
    """The aha step: the first step from which the score gap stays > `threshold` for `window` steps.

    `gaps[i]` is the gap at step `first_step + i`. A NaN gap (a step without correct or without
    incorrect rollouts) breaks a window. A run that rises above the threshold and dips back before
    `window` steps is not an aha; neither is a run cut short by the end of training. Returns the
    step number, or None.
    """
    if window < 1:
        raise ValueError(f"aha window must be >= 1, got {window}")
    run = 0
    for i, gap in enumerate(gaps):
        run = run + 1 if (not math.isnan(gap) and gap > threshold) else 0
        if run >= window:
            return first_step + i - window + 1
    return None


def never_kept_warning(kept_pos: Sequence[float], kept_neg: Sequence[float]) -> str | None:
    """A one-line warning when the dynamic weight has kept no step of one class over all steps.

    `kept_pos[i]` / `kept_neg[i]` are the kept shares of correct / incorrect trajectories' steps at
    step i (NaN where the class had no step). A class that appeared but was never kept means the
    head sits at the filter's degenerate fixed point (see spr_loss.py). None when all is well.
    """
    problems = []
    for name, shares in (("correct (positive)", kept_pos), ("incorrect (negative)", kept_neg)):
        seen = [x for x in shares if not math.isnan(x)]
        if seen and max(seen) == 0.0:
            problems.append(name)
    if not problems:
        return None
    return (f"SPR dynamic weight never kept a step of {' or '.join(problems)} trajectories over "
            f"{len(kept_pos)} steps: the head is stuck on one side; raise spr.bce_warmup_steps or use spr.loss=bce")

"""Score gap, AUROC (with ties), accuracy, aha detection, the never-kept warning, the plot."""

import itertools
import math

import numpy as np
import pytest

from components.training.plots import plot_score_gap
from components.tracking.stats import auroc, score_gap, within_group_auroc
from components.training.tracking import accuracy_at, detect_aha, head_metrics, never_kept_warning


def _pairwise_auroc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auroc_known_cases():
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5] * 4, [True, False, True, False]) == 0.5           # all tied
    # pairs (pos vs neg): 0.8>0.5, 0.8>0.2, 0.5=0.5 (1/2), 0.5>0.2 -> 3.5 / 4
    assert auroc([0.8, 0.5, 0.5, 0.2], [True, True, False, False]) == 0.875
    assert math.isnan(auroc([0.3, 0.4], [True, True]))


def test_auroc_matches_pairwise_count_with_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 5, size=30) / 4.0    # heavy ties
        labels = rng.random(30) < 0.4
        if labels.all() or not labels.any():
            continue
        assert auroc(scores, labels) == pytest.approx(_pairwise_auroc(scores, labels), abs=1e-12)


def test_gap_accuracy_and_head_metrics():
    scores, correct = [0.9, 0.7, 0.4, 0.2], [True, True, False, True]
    # correct mean (0.9 + 0.7 + 0.2) / 3 = 0.6; incorrect 0.4 -> gap 0.2
    assert score_gap(scores, correct) == pytest.approx(0.2)
    # predictions > 0.5: T, T, F, F vs labels T, T, F, T -> 3/4
    assert accuracy_at(scores, correct) == 0.75
    m = head_metrics(scores, correct, group_size=2)
    assert m.auroc_within == 0.0             # group (0.9 T, 0.7 T) has no AUROC; in (0.4 F, 0.2 T) 0.2 < 0.4
    assert (m.mean_correct, m.mean_incorrect) == (pytest.approx(0.6), pytest.approx(0.4))
    assert m.auroc == pytest.approx(2 / 3)   # 0.9>0.4, 0.7>0.4, 0.2<0.4
    assert math.isnan(score_gap([0.1], [False]))
    with pytest.raises(ValueError, match="differ in length"):
        score_gap([0.1, 0.2], [True])


def test_within_group_auroc_ranks_inside_each_prompt_only():
    # a score that ranks the easy prompt above the hard one but inverts each prompt's own order:
    # pooled AUROC says it separates a little, within-group AUROC says it never picks right
    scores = [0.8, 0.8, 0.8, 0.9, 0.1, 0.1, 0.1, 0.05]
    correct = [True, True, True, False, False, False, False, True]
    assert auroc(scores, correct) == pytest.approx(9 / 16)
    assert within_group_auroc(scores, correct, 4) == 0.0
    assert within_group_auroc([0.2, 0.9, 0.3, 0.1], [False, True, True, False], 2) == 1.0
    assert math.isnan(within_group_auroc([0.2, 0.9], [True, True], 2))
    with pytest.raises(ValueError, match="groups of 3"):
        within_group_auroc([0.1, 0.2], [True, False], 3)


def test_detect_aha_cases():
    assert detect_aha([0.0, 0.05, 0.3, 0.0, 0.02], threshold=0.1, window=3) is None      # never
    assert detect_aha([0.5, 0.4, 0.3, 0.2], threshold=0.1, window=3) == 0                # immediately
    assert detect_aha([0.5, 0.4, 0.3], threshold=0.1, window=3, first_step=1) == 1
    # rises at step 1, dips back at 3, stays from 4 on
    assert detect_aha([0.0, 0.2, 0.2, 0.05, 0.2, 0.3, 0.4], threshold=0.1, window=3) == 4
    assert detect_aha([0.0, 0.0, 0.2, 0.2], threshold=0.1, window=3) is None              # cut short
    assert detect_aha([0.2, math.nan, 0.2, 0.2], threshold=0.1, window=2) == 2            # NaN breaks
    assert detect_aha([0.1, 0.1], threshold=0.1, window=1) is None                        # strictly above
    with pytest.raises(ValueError):
        detect_aha([0.2], threshold=0.1, window=0)


def test_never_kept_warning():
    assert never_kept_warning([0.5, 0.0], [0.2, 0.3]) is None
    msg = never_kept_warning([0.0, 0.0, math.nan], [0.4, 0.6, 0.7])
    assert msg is not None and "correct (positive)" in msg and "bce_warmup_steps" in msg
    assert "incorrect (negative)" in never_kept_warning([0.3], [0.0])
    assert never_kept_warning([math.nan], [math.nan]) is None   # class never present: nothing to say


def test_plot_score_gap_writes_png(tmp_path):
    path = plot_score_gap([1, 2, 3, 4], [0.5, 0.6, 0.8, math.nan], [0.5, 0.45, 0.3, 0.2],
                          tmp_path / "plots" / "score_gap.png", aha_step=3, warmup_steps=2)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    with pytest.raises(ValueError):
        plot_score_gap([1], [0.1, 0.2], [0.3], tmp_path / "x.png")

"""Every plot is written as a non-empty PNG, including degenerate inputs."""

import math

from components.evaluation.metrics import Estimate
from components.evaluation.plots import (plot_accuracy_vs_tokens, plot_scaling_curve,
                                         plot_score_distributions, plot_step_heatmap)

PNG = b"\x89PNG"


def est(v):
    return Estimate(v, max(v - 0.05, 0), min(v + 0.05, 1), 10)


def test_scaling_curve(tmp_path):
    curves = {"majority": [(1, est(0.4)), (2, est(0.45)), (8, est(0.6)), (32, est(0.7))],
              "oracle": [(n, est(min(1.0, 0.4 + 0.1 * n))) for n in (1, 2, 8, 32)],
              "sprm_best/bce": [(n, est(0.3)) for n in (1, 2, 8, 32)],
              "empty": []}
    path = plot_scaling_curve(curves, tmp_path / "sub" / "scaling.png", "synthetic")
    assert path.read_bytes()[:4] == PNG


def test_score_distributions(tmp_path):
    groups = {"default": ([0.9, 0.8, 0.2, 0.0], [True, True, False, False], 1.0),
              "all equal": ([0.0, 0.0], [True, False], 0.5),
              "one class": ([0.3], [True], math.nan)}
    path = plot_score_distributions(groups, tmp_path / "scores.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == PNG


def test_step_heatmap_with_no_step_candidates(tmp_path):
    problems = [("Compute 1+2.", [[0.9, 0.8], [], [0.1, 0.2, 0.3]], [True, False, False]),
                ("Compute 3*4.", [[0.5]], [True])]
    path = plot_step_heatmap(problems, tmp_path / "heatmap.png")
    assert path.read_bytes()[:4] == PNG


def test_accuracy_vs_tokens(tmp_path):
    curves = {"majority": [(40.0, 0.4), (320.0, 0.6)], "pass": [(40.0, 0.4)],
              "nan": [(math.nan, 0.3)]}
    path = plot_accuracy_vs_tokens(curves, tmp_path / "tokens.png")
    assert path.read_bytes()[:4] == PNG

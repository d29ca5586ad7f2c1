"""The evaluation plots people look at (docs/method.md sections 4 and 6), written as PNG files.

Figures are built with `matplotlib.figure.Figure` (Agg canvas, no pyplot global state), so this
is safe in worker threads and headless machines. Each function writes one file and returns its
path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from components.evaluation.metrics import Estimate

# One colour per method, stable across plots.
METHOD_COLOURS = {"pass": "tab:gray", "majority": "tab:blue", "sprm_best": "tab:red", "sprm_vote": "tab:orange",
                  "logprob_best": "tab:green", "logprob_vote": "tab:olive", "oracle": "black", "beam": "tab:purple"}


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_scaling_curve(curves: Mapping[str, Sequence[tuple[int, Estimate]]], path: Path,
                       title: str = "Test-time scaling") -> Path:
    """Accuracy vs N (log2 x-axis), one line per method, bootstrap CI bands.

    `curves`: {method: [(N, Estimate), ...]}.
    """
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    all_ns = sorted({int(n) for pts in curves.values() for n, _ in pts})
    spare = iter(["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"] * 4)
    for method, points in curves.items():
        if not points:
            continue
        pts = sorted(points, key=lambda p: p[0])
        if len(pts) == 1 and len(all_ns) > 1:  # a single-N baseline (pass@1): a flat reference line
            pts = [(n, pts[0][1]) for n in all_ns]
            method = f"{method}@{points[0][0]}"
        ns = np.array([p[0] for p in pts], dtype=float)
        val = np.array([p[1].value for p in pts])
        lo = np.array([p[1].low for p in pts])
        hi = np.array([p[1].high for p in pts])
        ablation = "/" in method
        colour = next(spare) if ablation else METHOD_COLOURS.get(method.split("@")[0])
        ax.plot(ns, val, "--" if ablation else "-", marker="" if "@" in method else "o",
                label=method, color=colour)
        ax.fill_between(ns, lo, hi, alpha=0.12, color=colour)
    ax.set_xscale("log", base=2)
    if all_ns:
        ax.set_xticks(all_ns, [str(n) for n in all_ns])
    ax.set_xlabel("N (sampled candidates per problem)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def plot_score_distributions(groups: Mapping[str, tuple[Sequence[float], Sequence[bool], float]],
                             path: Path, title: str = "Trajectory scores") -> Path:
    """Histograms of trajectory scores of correct vs incorrect candidates, AUROC in the legend.

    `groups`: {label: (scores, correct, auroc)}, one panel per label (e.g. one per head).
    """
    n = max(len(groups), 1)
    fig = Figure(figsize=(4.2 * n, 3.6))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (label, (scores, correct, auc)) in zip(axes, groups.items()):
        s = np.asarray(scores, dtype=float)
        y = np.asarray(correct, dtype=bool)
        finite = np.isfinite(s)  # unsampled placeholders carry NaN log-probs
        s, y = s[finite], y[finite]
        lo, hi = (float(np.nanmin(s)), float(np.nanmax(s))) if s.size else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 31)
        for mask, colour, text in ((y, "tab:green", f"correct (n={int(y.sum())}), AUROC {auc:.3f}"),
                                   (~y, "tab:red", f"incorrect (n={int((~y).sum())})")):
            if mask.any():  # an empty class has no density
                ax.hist(s[mask], bins=bins, alpha=0.6, color=colour, density=True, label=text)
            else:
                ax.plot([], [], color=colour, label=text)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("score")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    fig.suptitle(title)
    return _save(fig, path)


def plot_step_heatmap(problems: Sequence[tuple[str, Sequence[Sequence[float]], Sequence[bool]]],
                      path: Path, title: str = "SPRM step scores") -> Path:
    """One panel per problem: rows = candidates, columns = steps, colour = step score.

    `problems`: [(label, step_scores per candidate, correct per candidate)]. Rows of correct
    candidates are marked with a check in the y-tick label; candidates with no step show an empty
    (grey) row.
    """
    n = max(len(problems), 1)
    fig = Figure(figsize=(4.0 * n, 4.2))
    axes = fig.subplots(1, n, squeeze=False)[0]
    image = None
    for ax, (label, steps, correct) in zip(axes, problems):
        width = max([len(s) for s in steps] + [1])
        grid = np.full((len(steps), width), np.nan)
        for i, s in enumerate(steps):
            grid[i, :len(s)] = s
        image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", vmin=0.0, vmax=1.0,
                          cmap="RdYlGn", interpolation="nearest")
        ax.set_facecolor("lightgrey")
        ax.set_yticks(range(len(steps)),
                      [f"{'✓' if ok else '✗'} {i}" for i, ok in enumerate(correct)], fontsize=6)
        for tick, ok in zip(ax.get_yticklabels(), correct):
            tick.set_color("tab:green" if ok else "tab:red")
        ax.set_xticks(range(width), [str(k + 1) for k in range(width)], fontsize=7)
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=8)
    axes[0].set_ylabel("candidate")
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="step score")
    fig.suptitle(title)
    return _save(fig, path)


def log_linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """(a, b) of the least-squares line accuracy = a + b * log10(tokens); None below two distinct x.

    >>> a, b = log_linear_fit([(10.0, 0.5), (100.0, 0.6), (1000.0, 0.7)])
    >>> round(a, 6), round(b, 6)
    (0.4, 0.1)
    """
    x = np.log10(np.asarray([p[0] for p in points], dtype=np.float64))
    y = np.asarray([p[1] for p in points], dtype=np.float64)
    if np.unique(x).size < 2:
        return None
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def plot_accuracy_vs_tokens(curves: Mapping[str, Sequence[tuple[float, float]]], path: Path,
                            title: str = "Accuracy vs generated tokens") -> Path:
    """Accuracy vs total generated tokens per problem (log x), one line per method, with the
    least-squares line `accuracy = a + b log10(tokens)` of each method with two or more points
    (dashed; the legend gives b, the gain per 10x tokens): the paper's compute-scaling view, where
    accuracy grows roughly linearly in log compute (Figure 3).

    `curves`: {method: [(tokens per problem, accuracy), ...]}.
    """
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    drawn = 0
    for method, points in curves.items():
        pts = sorted(p for p in points if np.isfinite(p[0]) and p[0] > 0 and np.isfinite(p[1]))
        if not pts:
            continue
        colour = METHOD_COLOURS.get(method)
        fit = log_linear_fit(pts)
        label = method if fit is None else f"{method} ({fit[1]:+.3f} per 10x)"
        line = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", linestyle="none" if fit else "-",
                       label=label, color=colour)[0]
        if fit is not None:
            xs = np.geomspace(pts[0][0], pts[-1][0], 20)
            ax.plot(xs, fit[0] + fit[1] * np.log10(xs), linestyle="--", color=line.get_color())
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no sampled candidates", ha="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_xlabel("generated tokens per problem")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if drawn:
        ax.legend(fontsize=8)
    return _save(fig, path)

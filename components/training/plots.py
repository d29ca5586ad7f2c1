"""The score-gap plot of a training run (the paper's Fig. 4 / Fig. 8 at our scale).

Mean SPRM trajectory score of correct and of incorrect rollouts at each training step, with the
aha step (tracking.detect_aha) marked. Written with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def plot_score_gap(
    steps: Sequence[int],
    mean_correct: Sequence[float],
    mean_incorrect: Sequence[float],
    out_path: Path,
    aha_step: int | None = None,
    title: str = "SPRM score: correct vs incorrect rollouts",
    warmup_steps: int = 0,
    on_figure: Callable[[Any], None] | None = None,
) -> Path:
    """Save the score-gap plot as a PNG at `out_path` and return the path.

    `on_figure(fig)` is called with the finished figure before it is closed (MLflow's `log_figure`).

    NaN values (a step with no rollout of that class) are left as gaps in the lines; the first
    `warmup_steps` steps (the head's BCE warm-up) are shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not (len(steps) == len(mean_correct) == len(mean_incorrect)):
        raise ValueError("steps, mean_correct and mean_incorrect must have the same length")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        ax.plot(steps, mean_correct, color="tab:green", marker=".", label="correct")
        ax.plot(steps, mean_incorrect, color="tab:red", marker=".", label="incorrect")
        if warmup_steps > 0:
            ax.axvspan(0.5, warmup_steps + 0.5, color="0.9", label="BCE warm-up")
        if aha_step is not None:
            ax.axvline(aha_step, color="tab:blue", linestyle="--", label=f"aha step {aha_step}")
        ax.set_xlabel("training step")
        ax.set_ylabel("mean trajectory score")
        finite = [v for v in (*mean_correct, *mean_incorrect) if not math.isnan(v)]
        if finite and min(finite) >= 0.0 and max(finite) <= 1.0:
            ax.set_ylim(0.0, 1.0)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
        fig.tight_layout()
        fig.savefig(out_path, format="png")
        if on_figure is not None:
            on_figure(fig)
    finally:
        plt.close(fig)
    return out_path

"""A progress bar for training, fed by the trainer's per-step callback (reward, AUROC, score gap)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def training_progress(total: int, desc: str = "train") -> Iterator[Callable[[int, dict[str, float]], None]]:
    """Yield an `on_step(step, metrics)` for `run_train` that drives a tqdm bar of `total` steps."""
    from tqdm.auto import tqdm

    from components.console import bars_disabled

    with tqdm(total=total, desc=desc, unit="step", disable=bars_disabled()) as bar:
        def on_step(step: int, metrics: dict[str, float]) -> None:
            bar.n = step
            bar.set_postfix(reward=f"{metrics.get('train/reward_mean', float('nan')):.3f}",
                            auroc=f"{metrics.get('train/sprm_auroc', float('nan')):.2f}",
                            gap=f"{metrics.get('train/score_gap', float('nan')):.3f}", refresh=False)
            bar.refresh()
        yield on_step

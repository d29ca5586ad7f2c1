"""Step-level beam search as an evaluation method: one search per reported effort on one set.

`run_beams` gives, for each effort's N, the beam `beam_for(N)` (components/inference/beam.py)
found on every problem that fits the context, graded; the runner turns the outcomes into the
`beam` rows of the report (accuracy with a CI, tokens per problem).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from components.console import say
from components.data.eval_sets import EvalSet

if TYPE_CHECKING:
    from components.evaluation.config import EvaluateConfig


@dataclass(frozen=True)
class BeamOutcome:
    """Beam search at one effort on one set: its shape, per-problem correctness, mean tokens."""

    label: str
    correct: list[float]
    tokens: float


def run_beams(rm, eval_set: EvalSet, fits: Sequence[int], cfg: EvaluateConfig,
              log: Callable[[str], None] = say) -> dict[int, BeamOutcome]:
    """Beam search (`beam_for` each reported effort's N) on the problems that fit the context;
    a problem that does not counts as wrong with 0 tokens. {N: outcome}."""
    from components.inference.beam import beam_for, beam_search
    from components.rewards.grading import is_correct

    out: dict[int, BeamOutcome] = {}
    prompts = [eval_set.problems[i].prompt for i in fits]
    for n in sorted({getattr(cfg.efforts, e) for e in cfg.report_efforts}):
        shape = beam_for(n, cfg.beam_max_step_tokens)
        t0 = time.perf_counter()
        found = beam_search(rm, prompts, shape, cfg.sampling, seed=cfg.seed, batch_size=cfg.batch_size) if fits else []
        correct = [0.0] * len(eval_set)
        tokens = [0] * len(eval_set)
        for i, r in zip(fits, found):
            correct[i] = float(is_correct(r.best.text, eval_set.problems[i].answer, r.best.think))
            tokens[i] = r.tokens
        out[n] = BeamOutcome(shape.label, correct, sum(tokens) / max(len(tokens), 1))
        log(f"evaluate: {eval_set.name}: {shape.label} (N={n}) accuracy {np.mean(correct):.3f}, "
            f"{out[n].tokens:.0f} tokens per problem ({time.perf_counter() - t0:.0f}s)")
    return out

"""params.yaml section `evaluate`: the sets, the efforts reported, sampling and the estimators' knobs.

Read by the evaluation runner (components/evaluation/runner.py), the served pyfunc (the beam's
step cap) and the promotion gate (the efforts it compares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from components.config import ConfigError
from components.inference.solve import EFFORTS
from components.model.candidate import SamplingConfig


@dataclass(frozen=True)
class EffortsConfig:
    """Candidates per effort (docs/method.md section 4: low / medium / high = 2 / 8 / 32, as served)."""

    low: int = EFFORTS["low"]
    medium: int = EFFORTS["medium"]
    high: int = EFFORTS["high"]


@dataclass(frozen=True)
class EvaluateConfig:
    """params.yaml section `evaluate`."""

    eval_sets: list[str] = field(default_factory=lambda: ["synthetic", "synthetic_val"])
    n_problems: int = 200              # size of the synthetic held-out set
    max_real_problems: int | None = None  # cap on a real set (first rows), None = all
    problem_seed: int = 1              # seed of the synthetic held-out set
    max_n: int = 32                    # candidates sampled per problem (the largest N)
    efforts: EffortsConfig = field(default_factory=EffortsConfig)
    report_efforts: list[str] = field(default_factory=lambda: list(EFFORTS))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    batch_size: int = 256              # sequences per generate call (memory knob)
    aggregations: list[str] = field(default_factory=lambda: ["geometric", "min", "last"])
    subset_draws: int = 200            # random N-subsets per problem when C(M, N) is larger
    bootstrap_resamples: int = 1000
    ci_level: float = 0.95
    heatmap_problems: int = 4
    beam: bool = True                  # also measure step-level beam search at each reported effort
    beam_max_step_tokens: int = 64     # a longer step goes on in the next round
    backend: Literal["hf", "vllm"] = "hf"
    device: str = "cpu"
    dtype: str = "auto"                # the checkpoint's own dtype; or float32, bfloat16, float16
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [e for e in self.report_efforts if e not in EFFORTS]
        if unknown or not self.report_efforts:
            raise ConfigError(f"evaluate.report_efforts: {unknown or 'empty'}; choose from {', '.join(EFFORTS)}")
        ns = [getattr(self.efforts, e) for e in self.report_efforts]
        if min(self.efforts.low, self.efforts.medium, self.efforts.high) < 1 or self.max_n < max(ns):
            raise ConfigError(f"evaluate.max_n ({self.max_n}) must be >= every reported effort {ns} (all >= 1)")
        for how in self.aggregations:
            if how not in ("geometric", "min", "last", "product", "mean"):
                raise ConfigError(f"evaluate.aggregations: {how!r} is not one of geometric, min, last, product, mean")
        if self.beam_max_step_tokens < 1:
            raise ConfigError(f"evaluate.beam_max_step_tokens must be >= 1, got {self.beam_max_step_tokens}")
        if self.n_problems < 1 or self.subset_draws < 1 or self.bootstrap_resamples < 1:
            raise ConfigError("evaluate.n_problems, subset_draws and bootstrap_resamples must be >= 1")
        if not 0 < self.ci_level < 1:
            raise ConfigError(f"evaluate.ci_level must be in (0, 1), got {self.ci_level}")

    @property
    def ns(self) -> list[int]:
        """N values reported: 1, each reported effort, and max_n."""
        return sorted({1, self.max_n, *(getattr(self.efforts, e) for e in self.report_efforts)})

    def with_efforts(self, names: Sequence[str]) -> EvaluateConfig:
        """Report only `names` (e.g. `--efforts low,medium`) and sample just the largest of them."""
        names = [n.strip() for n in names if n.strip()]
        probe = replace(self, report_efforts=list(names))  # validates the names
        return replace(probe, max_n=max(getattr(self.efforts, n) for n in names))

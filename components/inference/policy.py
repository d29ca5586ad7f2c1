"""The policy the cleaning stage's difficulty agent samples from: a model directory, loaded once.

`components.data.agents.difficulty.DifficultyAgent` takes any `PolicySampler`; this one samples
with `ReflectiveModel.generate` at the agent's temperature, top-p, length, seed and batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.data.agents.difficulty import DifficultyConfig
from components.data.sources.files import SourceError
from components.model.candidate import SamplingConfig


@dataclass
class ModelPolicy:
    """A `PolicySampler` over the model in `policy_dir` (loaded at the first `sample`)."""

    policy_dir: Path
    cfg: DifficultyConfig = field(default_factory=DifficultyConfig)
    _model: Any = field(default=None, init=False, repr=False)

    def sample(self, problems: Sequence[str], k: int) -> list[list[tuple[str, bool]]]:
        import torch

        from components.model.reflective import ReflectiveModel

        cfg = self.cfg
        if self._model is None:
            device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
            self._model = ReflectiveModel.load(self.policy_dir, device=device, dtype=torch.float32)
        sampling = SamplingConfig(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens)
        cands = self._model.generate(list(problems), k, sampling, cfg.seed, cfg.batch_size)
        return [[(c.text, c.think) for c in cs] for cs in cands]


def open_policy(policy_dir: Path | None, cfg: DifficultyConfig) -> ModelPolicy | None:
    """The policy of `reflect clean --policy DIR` (None without one); a missing directory is refused."""
    if policy_dir is None:
        return None
    if not Path(policy_dir).is_dir():
        raise SourceError(f"{policy_dir}: policy directory not found (pass a model directory to --policy)")
    return ModelPolicy(Path(policy_dir), cfg)

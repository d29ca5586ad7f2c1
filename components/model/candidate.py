"""What generation hands to everything downstream: sampled candidates with their step features.

A `Candidate` keeps what was captured while it was sampled (docs/method.md sections 1, 2 and 4): the
second-to-last-layer hidden state before each kept step token and the step's min/mean token
log-prob. Any SPRM head can score these later without another forward pass, so selectors and
ablations (hidden vs hidden+logprob, geometric mean vs min vs last) all read the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings for one generate call (reference: T 0.6, top_p 0.95, rep. 1.05)."""

    temperature: float = 1.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 64


@dataclass
class Candidate:
    """One sampled completion of one prompt.

    Shapes: `step_hidden` [n_steps, h] (fp32, CPU), `step_logprob` [n_steps, 2] (min, mean token
    log-prob of each step under the policy at temperature 1; [n_steps, 5] when the sampler recorded
    token statistics for a `hidden+logprob+entropy` head: then the step's mean and max entropy and
    not-most-likely share), `step_scores` [n_steps].
    """

    prompt_index: int
    text: str
    token_ids: list[int]
    step_positions: list[int]          # indices into token_ids of the kept step tokens
    step_hidden: torch.Tensor
    step_logprob: torch.Tensor
    mean_logprob: float                # mean token log-prob of the whole completion
    finished: bool                     # ended with an end-of-sequence token
    step_scores: list[float] = field(default_factory=list)
    score: float = 0.0                 # trajectory score (aggregation of step_scores)
    think: bool = True                 # the model has a thinking span: the answer follows </think>
    step_start: int = 0                # first token the first step may span (after <think>; steps.step_spans)

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def n_steps(self) -> int:
        return len(self.step_positions)


def stack_step_features(candidates) -> tuple[torch.Tensor, torch.Tensor]:
    """All candidates' step features as one batch: hidden [S, h] and statistics [S, k].

    Step-less candidates (placeholders, empty completions) are left out, so their empty
    tensors' widths never have to match the sampled ones.
    """
    with_steps = [c for c in candidates if c.step_hidden.shape[0]]
    if not with_steps:
        return torch.zeros(0, 0), torch.zeros(0, 2)
    return (torch.cat([c.step_hidden for c in with_steps]).float(),
            torch.cat([c.step_logprob for c in with_steps]).float())

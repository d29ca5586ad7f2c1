"""Step segmentation and trajectory scores as pure functions (paper section 4.1, METHOD.md s.2).

A reasoning step ends at a step token (`.\\n\\n`). Only step tokens inside the thinking span
`<think> ... </think>` count; of a run of consecutive step tokens only the first is kept; a step
token right at the start of the thinking span is ignored. The trajectory score is the geometric
mean of the step scores (eq. 5), clamped at 1e-10, and 0 for a trajectory with no step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

STEP_TEXT = ".\n\n"
Aggregation = Literal["geometric", "min", "last", "product", "mean"]


class StepTokenError(ValueError):
    """The tokenizer cannot mark steps (no `.\\n\\n` token)."""


@dataclass(frozen=True)
class StepTokens:
    """The token ids that delimit steps and the thinking span for one tokenizer.

    `think_open`/`think_close` are None when the vocabulary has no such single token; the whole
    completion then counts as the thinking span.
    """

    step_ids: frozenset[int]
    think_open: int | None
    think_close: int | None

    @classmethod
    def from_tokenizer(cls, tokenizer, match: Literal["exact", "contains"] = "exact") -> StepTokens:
        """Find the step ids: the reference's exact id of `.\\n\\n` (default) or every token
        whose text contains `.\\n\\n` (the paper's wording; 46 tokens in the Qwen2 vocabulary)."""
        ids = tokenizer.encode(STEP_TEXT, add_special_tokens=False)
        if match == "exact":
            if len(ids) != 1:
                raise StepTokenError(
                    f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no single token for "
                    f"'.\\n\\n' (it encodes to {ids}); use a tokenizer with a step token or "
                    "sprm.step_match: contains")
            step_ids = frozenset(ids)
        elif match == "contains":
            vocab = tokenizer.get_vocab()
            step_ids = frozenset(
                i for tok, i in vocab.items()
                if STEP_TEXT in tokenizer.convert_tokens_to_string([tok]))
            if not step_ids:
                raise StepTokenError(
                    f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no token containing "
                    "'.\\n\\n'; step scoring needs one")
        else:
            raise ValueError(f"step match must be 'exact' or 'contains', got {match!r}")
        return cls(step_ids, _single_id(tokenizer, "<think>"), _single_id(tokenizer, "</think>"))


def _single_id(tokenizer, text: str) -> int | None:
    ids = tokenizer.encode(text, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


def inside_think_after(ids: Sequence[int], tokens: StepTokens) -> bool:
    """Whether a sequence (e.g. a prompt) leaves the thinking span open at its end."""
    if tokens.think_open is None:
        return True
    inside = False
    for t in ids:
        if t == tokens.think_open:
            inside = True
        elif t == tokens.think_close:
            inside = False
    return inside


def step_positions(ids: Sequence[int], tokens: StepTokens, start_inside: bool = False) -> list[int]:
    """Indices of the kept step tokens in `ids` (a completion), METHOD.md section 2.

    `start_inside` says the thinking span was opened before `ids` began (e.g. by the prompt).
    Without think tokens in the vocabulary, everything counts as inside.

    >>> st = StepTokens(frozenset({9}), think_open=1, think_close=2)
    >>> step_positions([1, 9, 5, 9, 9, 5, 9, 2, 5, 9], st)
    [3, 6]
    """
    inside = start_inside or tokens.think_open is None
    span_start = 0 if inside else -1
    kept: list[int] = []
    prev_step = False
    for i, t in enumerate(ids):
        if t == tokens.think_open:
            inside, span_start, prev_step = True, i + 1, False
        elif t == tokens.think_close and tokens.think_close is not None:
            inside, prev_step = False, False
        elif inside and t in tokens.step_ids:
            if not prev_step and i != span_start:
                kept.append(i)
            prev_step = True
        else:
            prev_step = False
    return kept


def step_logprob_features(token_logprobs: torch.Tensor, positions: Sequence[int],
                          first_start: int = 0) -> torch.Tensor:
    """Min and mean token log-prob of each step: the extra head input of `hidden+logprob`.

    Step k spans the tokens after the previous kept step token (or from `first_start`) up to and
    including its own step token. token_logprobs: [T]; returns [n_steps, 2]. Vectorised (one
    scatter per candidate), since it runs on the sampling hot path.
    """
    n = len(positions)
    if n == 0:
        return torch.zeros(0, 2, dtype=torch.float32)
    pos = torch.as_tensor(positions, dtype=torch.long)  # [n]
    starts = torch.cat([pos.new_tensor([max(first_start, 0)]), pos[:-1] + 1]).clamp(max=pos)  # [n]
    last = int(pos[-1]) + 1
    lp = token_logprobs[:last].float()  # [last]
    idx = torch.arange(last)
    seg = torch.bucketize(idx, pos, right=False)  # [last] step index of each token
    inside = idx >= starts[seg.clamp(max=n - 1)]
    seg, vals = seg[inside], lp[inside]
    mins = torch.full((n,), float("inf")).scatter_reduce(0, seg, vals, "amin", include_self=True)
    sums = torch.zeros(n).index_add_(0, seg, vals)
    counts = torch.zeros(n).index_add_(0, seg, torch.ones_like(vals))
    return torch.stack([mins, sums / counts], dim=-1)


def aggregate_scores(scores: torch.Tensor | Sequence[float], how: Aggregation = "geometric") -> float:
    """Trajectory score from step scores (eq. 5: geometric mean); 0.0 when there is no step.

    >>> round(aggregate_scores([0.5, 0.125]), 6)
    0.25
    >>> aggregate_scores([])
    0.0
    >>> aggregate_scores([0.0, 1.0]) > 0
    True
    """
    s = torch.as_tensor(scores, dtype=torch.float64).flatten()  # [n_steps]
    if s.numel() == 0:
        return 0.0
    if how == "geometric":
        return float(torch.exp(torch.log(s.clamp(min=1e-10)).mean()))
    if how == "min":
        return float(s.min())
    if how == "last":
        return float(s[-1])
    if how == "product":
        return float(torch.exp(torch.log(s.clamp(min=1e-10)).sum()))
    if how == "mean":
        return float(s.mean())
    raise ValueError(f"unknown aggregation {how!r} (geometric, min, last, product, mean)")


"""Training data and rollout batches for the joint GRPO + SPR step (docs/method.md section 3).

`load_training_set` reads the cleaned parquet (columns `problem`, `answer`; others ignored);
`step_prompts` picks each step's prompts as a deterministic function of (seed, step), so a resumed
run draws exactly the prompts an uninterrupted one would; `build_batch` turns sampled candidates
into the padded tensors of one policy forward pass (verl's layout: prompts left-padded to a
common width P, responses right-padded to Tc, so response token k of every row sits at column
P + k and is predicted by the logits at column P + k - 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from components.model.candidate import Candidate
from components.model.sampling import position_ids
from components.model.steps import step_spans


class TrainingDataError(ValueError):
    """A training file that is missing, unreadable, empty or lacks a column; the message names it."""


@dataclass(frozen=True)
class TrainingSet:
    """Problems and their reference answers, row-aligned."""

    problems: list[str]
    answers: list[str]
    path: Path

    def __len__(self) -> int:
        return len(self.problems)


def load_training_set(path: Path | str) -> TrainingSet:
    """Read `problem` and `answer` from a parquet file with pyarrow; refuse bad files in one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"{path}: training data not found (run `reflect clean` or pass --data)")
    try:
        table = pq.read_table(path, columns=None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TrainingDataError(f"{path}: not a readable parquet file ({exc})") from None
    missing = [c for c in ("problem", "answer") if c not in table.column_names]
    if missing:
        raise TrainingDataError(f"{path}: missing column {missing[0]!r} (columns: {table.column_names}); "
                                "training needs 'problem' and 'answer'")
    problems = table.column("problem").to_pylist()
    answers = table.column("answer").to_pylist()
    rows = [(p, a) for p, a in zip(problems, answers) if isinstance(p, str) and p.strip() and a is not None]
    if not rows:
        raise TrainingDataError(f"{path}: no usable rows (need a non-empty 'problem' and an 'answer'); "
                                "the training set is empty")
    return TrainingSet([p for p, _ in rows], [str(a) for _, a in rows], path)


def fit_to_context(data: TrainingSet, fits: Sequence[bool]) -> tuple[TrainingSet, int]:
    """Keep the rows whose prompt leaves room for a completion (`fits`, row-aligned).

    Returns the kept set and the number of rows dropped; refuses a set where nothing fits.
    """
    keep = [i for i, ok in enumerate(fits) if ok]
    if not keep:
        raise TrainingDataError(f"{data.path}: no problem fits the model's context with room for a completion; "
                                "use a model with a longer context or shorter problems")
    return TrainingSet([data.problems[i] for i in keep], [data.answers[i] for i in keep], data.path), len(data) - len(keep)


def step_prompts(n_rows: int, step: int, per_step: int, seed: int) -> list[int]:
    """Row indices of the prompts of optimisation step `step` (0-based).

    The data is walked in epochs, each a fresh permutation seeded by (seed, epoch); step s takes
    items [s * per_step, (s + 1) * per_step) of that endless stream. Pure function of its inputs.
    """
    if n_rows < 1:
        raise TrainingDataError("the training set is empty")
    out: list[int] = []
    start = step * per_step
    while len(out) < per_step:
        epoch, offset = divmod(start + len(out), n_rows)
        perm = np.random.default_rng([seed, epoch]).permutation(n_rows)
        out.extend(int(i) for i in perm[offset: offset + per_step - len(out)])
    return out


@dataclass
class RolloutBatch:
    """One step's rollouts as tensors (B = completions, P = prompt width, Tc = response width, S = steps).

    `input_ids`, `attention_mask`, `position_ids` [B, P + Tc]; `responses`, `response_mask` [B, Tc];
    `step_rows`, `step_cols` [S] (row and sequence column of the position that produced each kept
    step token, i.e. P + k - 1 for step token k); `step_logprob` [S, k] (from the sampling pass,
    no grad); `step_labels` [S] (1.0 for steps of correct trajectories); `rewards` [B]; `span_*` [N]
the producing positions of every token inside a step and the step each belongs to.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    responses: torch.Tensor
    response_mask: torch.Tensor
    step_rows: torch.Tensor
    step_cols: torch.Tensor
    step_logprob: torch.Tensor
    step_labels: torch.Tensor
    rewards: torch.Tensor
    prompt_width: int
    span_rows: torch.Tensor | None = None   # [N] row, column and step index of every token inside a
    span_cols: torch.Tensor | None = None   # step (steps.step_spans): what a `pooled+logprob` head
    span_steps: torch.Tensor | None = None  # averages over

    def to(self, device: torch.device | str) -> RolloutBatch:
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()}
        return RolloutBatch(**moved)


def build_batch(prompts: Sequence[Sequence[int]], candidates: Sequence[Candidate], rewards: Sequence[float],
                pad_id: int) -> RolloutBatch:
    """Pad prompt i and candidate i into one row each; collect step positions and labels.

    A candidate is labelled correct (its steps get y = 1) iff its reward > 0.5 (docs/method.md section 3).
    """
    if not (len(prompts) == len(candidates) == len(rewards)):
        raise ValueError("prompts, candidates and rewards must be row-aligned")
    B = len(candidates)
    P = max(len(p) for p in prompts)
    Tc = max(1, max(c.n_tokens for c in candidates))
    input_ids = torch.full((B, P + Tc), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((B, P + Tc), dtype=torch.long)
    response_mask = torch.zeros((B, Tc), dtype=torch.long)
    rows, cols, feats, labels = [], [], [], []
    span_rows, span_cols, span_steps = [], [], []
    for i, (prompt, cand, r) in enumerate(zip(prompts, candidates, rewards)):
        input_ids[i, P - len(prompt): P] = torch.tensor(list(prompt), dtype=torch.long)
        attention_mask[i, P - len(prompt): P] = 1
        n = cand.n_tokens
        if n:
            input_ids[i, P: P + n] = torch.tensor(cand.token_ids, dtype=torch.long)
            attention_mask[i, P: P + n] = 1
            response_mask[i, :n] = 1
        for k in cand.step_positions:
            rows.append(i)
            cols.append(P + k - 1)
        if cand.n_steps:
            feats.append(cand.step_logprob.float())
            tok, seg = step_spans(cand.step_positions, cand.step_start)
            span_rows.append(torch.full_like(tok, i))
            span_cols.append(P + tok - 1)
            span_steps.append(seg + len(rows) - cand.n_steps)
        labels.extend([1.0 if r > 0.5 else 0.0] * cand.n_steps)
    return RolloutBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids(attention_mask),
        responses=input_ids[:, P:].clone(),
        response_mask=response_mask,
        step_rows=torch.tensor(rows, dtype=torch.long),
        step_cols=torch.tensor(cols, dtype=torch.long),
        step_logprob=torch.cat(feats) if feats else torch.zeros(0, 2),
        step_labels=torch.tensor(labels, dtype=torch.float32),
        rewards=torch.tensor(list(rewards), dtype=torch.float32),
        prompt_width=P,
        span_rows=torch.cat(span_rows) if span_rows else torch.zeros(0, dtype=torch.long),
        span_cols=torch.cat(span_cols) if span_cols else torch.zeros(0, dtype=torch.long),
        span_steps=torch.cat(span_steps) if span_steps else torch.zeros(0, dtype=torch.long),
    )

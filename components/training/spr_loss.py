"""The SPR loss of the SPRM head (paper eq. 6, docs/method.md section 3): pure functions on tensors.

Eq. 6: for every kept step token t of a trajectory with outcome label y (1 iff its reward > 0.5),

    L_SPR = sum_t w_t * BCE(sigmoid(logit_t), y) / sum_t w_t

with the self-supervised dynamic weight w_t = 1 only where the head's own pseudo-label agrees with
y: (logit_t > 0 and y = 1) or (logit_t < 0 and y = 0), else 0. As the reference code does, the kept
steps are also class-balanced: positives weigh `pos_weight * N / (P + N)`, negatives `P / (P + N)`
(P, N = kept positive / negative steps), normalised as `sum(w * bce) / (sum(w) + 1e-5)`.

Beware the filter's degenerate fixed point: a fresh head that leans to one side keeps only steps of
that side's class. With balancing, the other class count being 0 zeroes the loss (nothing moves);
without it, the head is pushed further the same way (a trial here: 63% kept = exactly the wrong
trajectories' steps, AUROC 0.43). So training starts with a short BCE warm-up
(`spr.bce_warmup_steps`), class-balanced by default (`balanced_bce`): plain BCE on a batch with
few correct trajectories teaches the base rate, i.e. every logit negative, which is the fixed point
itself (measured here: pass rate 0.1 -> no positive step kept after a plain-BCE warm-up). The kept
share is reported per class.

`loss="bce"` is the paper's BCELoss ablation: w = 1 everywhere, no balancing (mean BCE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

LossKind = Literal["spr", "bce", "balanced_bce"]


@dataclass(frozen=True)
class SPRLossOutput:
    """The loss (scalar, differentiable) and diagnostics of the dynamic weight.

    `kept` is the share of all steps with w = 1; `kept_pos` / `kept_neg` the share of steps of
    correct / incorrect trajectories that were kept (NaN when there was no step of that class).
    With `loss="bce"` every step is kept.
    """

    loss: torch.Tensor
    kept: float
    kept_pos: float
    kept_neg: float
    n_pos: int            # steps of correct trajectories (y = 1)
    n_neg: int            # steps of incorrect trajectories (y = 0)


def dynamic_weight(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Self-supervised dynamic weight of eq. 6: [S] logits, [S] labels in {0, 1} -> [S] in {0., 1.}.

    1 where the head's pseudo-label agrees with the outcome label (logit > 0 and y = 1, or
    logit < 0 and y = 0); 0 elsewhere, including logit exactly 0. No gradient flows through it.
    """
    logits = logits.detach()
    agree = ((logits > 0) & (labels > 0.5)) | ((logits < 0) & (labels < 0.5))
    return agree.to(logits.dtype)


@dataclass(frozen=True)
class StepTotals:
    """Step counts over the whole batch when this call sees only a shard of it (several processes).

    `kept_pos` / `kept_neg`: steps kept per class (P, N; by the dynamic weight for `spr`, all steps
    of the class otherwise, see `kept_counts`); `steps`: all steps.
    """

    kept_pos: float
    kept_neg: float
    steps: float


def _keep(logits: torch.Tensor, labels: torch.Tensor, loss: LossKind) -> torch.Tensor:
    return dynamic_weight(logits, labels) if loss == "spr" else torch.ones_like(logits.detach())


def kept_counts(logits: torch.Tensor, labels: torch.Tensor, loss: LossKind = "spr") -> tuple[float, float]:
    """(P, N): kept steps among correct / incorrect trajectories' steps (all steps unless `spr`)."""
    keep = _keep(logits, labels.to(logits.dtype), loss)
    pos = labels > 0.5
    return float((keep * pos).sum()), float((keep * ~pos).sum())


def spr_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss: LossKind = "spr",
    pos_weight: float = 1.5,
    eps: float = 1e-5,
    totals: StepTotals | None = None,
) -> SPRLossOutput:
    """SPR loss (eq. 6) with the reference's class balancing; or BCE, plain or class-balanced.

    `logits` [S]: the head's step logits (all steps of all trajectories, concatenated);
    `labels` [S]: 1.0 for steps of correct trajectories, 0.0 otherwise. An empty step set gives a
    zero loss that is still connected to `logits` (so backward works).
    - `spr`: w = dynamic weight x class weight (positives `pos_weight * N/(P+N)`, negatives
      `P/(P+N)` over kept steps), `sum(w * bce) / (sum(w) + eps)`.
    - `bce`: the paper's BCELoss ablation, w = 1 everywhere, the plain mean.
    - `balanced_bce`: w = class weight only (P, N = all steps of each class): the warm-up, which
      starts the head near the decision boundary instead of at the majority class.

    `totals` (for data-parallel shards): the class weights and the normaliser use these batch-wide
    counts, so the shards' losses sum to the full batch's loss (the caller multiplies by the number
    of processes when gradients are averaged). Default: this call's own steps are the batch.
    """
    if logits.shape != labels.shape or logits.dim() != 1:
        raise ValueError(f"logits and labels must both be [S]; got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if loss not in ("spr", "bce", "balanced_bce"):
        raise ValueError(f"loss must be 'spr', 'bce' or 'balanced_bce', got {loss!r}")
    labels = labels.to(logits.dtype)
    pos = labels > 0.5                                                       # [S]
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if logits.numel() == 0:
        zero = logits.sum() * 0.0
        return SPRLossOutput(zero, math.nan, math.nan, math.nan, 0, 0)
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")  # [S]
    if loss == "bce":
        n_all = totals.steps if totals is not None else logits.numel()
        value = bce.sum() / max(n_all, 1)
        return SPRLossOutput(value, 1.0, _share(n_pos, n_pos), _share(n_neg, n_neg), n_pos, n_neg)

    keep = _keep(logits, labels, loss)                                       # [S] in {0, 1}
    kept_p = float((keep * pos).sum())                                       # P (this shard)
    kept_n = float((keep * ~pos).sum())                                      # N (this shard)
    all_p, all_n = (totals.kept_pos, totals.kept_neg) if totals is not None else (kept_p, kept_n)
    if all_p + all_n > 0:
        w_pos, w_neg = pos_weight * all_n / (all_p + all_n), all_p / (all_p + all_n)
    else:
        w_pos = w_neg = 0.0
    class_w = torch.where(pos, torch.full_like(bce, w_pos), torch.full_like(bce, w_neg))  # [S]
    w = keep * class_w                                                       # [S]
    norm = w_pos * all_p + w_neg * all_n                                     # = sum(w) over the batch
    value = (w * bce).sum() / (norm + eps)
    return SPRLossOutput(
        value,
        kept=(kept_p + kept_n) / logits.numel(),
        kept_pos=_share(kept_p, n_pos),
        kept_neg=_share(kept_n, n_neg),
        n_pos=n_pos,
        n_neg=n_neg,
    )


def group_pairwise_loss(logits: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor, group_size: int,
                        reduce_sum: Callable[[float], float] | None = None) -> tuple[torch.Tensor, float]:
    """A within-group ranking term on trajectory scores (issue 14 item 3; not in the paper).

    Best-of-N only compares one problem's candidates, so this term asks exactly that: in each GRPO
    group (rows `r // group_size`), every correct trajectory i should outscore every incorrect j,
    `softplus(s_j - s_i)` with `s` the log geometric mean of the step scores (eq. 5's aggregation,
    `mean_t log sigmoid(logit_t)`). Rows without steps take no part. `logits`, `rows`, `labels` [S]
    (step logits, their row in the batch, 1.0 for a correct row); returns (mean over pairs, pairs).
    `reduce_sum` (data-parallel shards) sums the pair count over processes: the sum is divided by
    the batch-wide count (every process must call it, as every one does with steps or without).
    """
    if logits.numel() == 0:
        if reduce_sum is not None:
            reduce_sum(0.0)                                                  # keep the collective in step
        return logits.sum() * 0.0, 0.0
    n_rows = int(rows.max()) + 1
    log_p = F.logsigmoid(logits)
    sums = torch.zeros(n_rows, dtype=log_p.dtype, device=log_p.device).index_add(0, rows, log_p)
    counts = torch.zeros(n_rows, dtype=log_p.dtype, device=log_p.device).index_add(0, rows, torch.ones_like(log_p))
    has = counts > 0
    score = sums / counts.clamp(min=1)                                       # [B] log geometric mean
    row_label = torch.zeros(n_rows, dtype=torch.bool, device=log_p.device)
    row_label[rows] = labels > 0.5
    group = torch.arange(n_rows, device=log_p.device) // group_size
    pairs = ((group[:, None] == group[None, :]) & row_label[:, None] & ~row_label[None, :]
             & has[:, None] & has[None, :])                                  # [i correct, j incorrect]
    n_pairs = float(pairs.sum())
    diff = score[None, :] - score[:, None]                                   # s_j - s_i
    total = reduce_sum(n_pairs) if reduce_sum is not None else n_pairs
    value = (F.softplus(diff) * pairs).sum() / max(total, 1.0)
    return value, n_pairs


def loss_kind_at(step: int, loss: LossKind, warmup_steps: int, warmup_loss: LossKind = "balanced_bce") -> LossKind:
    """The head's loss at optimisation step `step` (0-based): `warmup_loss` for the first steps."""
    return warmup_loss if step < warmup_steps and loss == "spr" else loss


def scale_backbone_grad(h: torch.Tensor, scale: float = 1e-4) -> torch.Tensor:
    """Identity in the forward pass; scales the gradient flowing back into `h` by `scale`.

    `h * scale + h.detach() * (1 - scale)` (docs/method.md section 3): the head reads the backbone's
    hidden state at full value but pulls on the shared backbone with only 1e-4 of its gradient.
    """
    return h * scale + h.detach() * (1.0 - scale)


def _share(kept: float, count: int) -> float:
    return kept / count if count else math.nan

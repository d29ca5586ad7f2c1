"""One forward pass of policy + SPRM head and the joint loss (docs/method.md section 3).

    loss = spr_loss + pg_loss - entropy_coef * entropy + kl_coef * kl

`PolicyWithHead` is the one module that data parallelism wraps: the policy forward recomputes the
response log-probs with `output_hidden_states=True`, and the second-to-last layer's hidden state at
each captured step position goes (through `scale_backbone_grad`, 1e-4) into the head. Across
processes each loss is normalised by batch-wide counts (tokens, kept steps) and multiplied by the
number of processes, so averaged gradients equal those of one process on the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from components.model.steps import segment_mean
from components.training.config import TrainConfig
from components.training.grpo import clipped_policy_loss, logprobs_and_entropy, low_var_kl, masked_mean
from components.training.rollouts import RolloutBatch
from components.training.spr_loss import (LossKind, SPRLossOutput, StepTotals, group_pairwise_loss, kept_counts,
                                          scale_backbone_grad, spr_loss)

# `reduce_sum(x)` sums a float over processes (identity on one process).
ReduceSum = Callable[[float], float]


class PolicyWithHead(nn.Module):
    """Policy LM + SPRM head as one module (one DDP/FSDP wrapper, one set of parameters)."""

    def __init__(self, model: nn.Module, head: nn.Module, backbone_grad_scale: float, hidden_layer: int = -2):
        super().__init__()
        self.model = model
        self.head = head
        self.backbone_grad_scale = backbone_grad_scale
        self.hidden_layer = hidden_layer
        self.pool_steps = bool(getattr(head, "pools", False))   # a pooled+logprob head: mean over each step
        self.last_step_hidden: torch.Tensor | None = None   # [S, h] of the latest forward, detached

    def forward(self, input_ids, attention_mask, position_ids, step_rows, step_cols, step_logprob,
                response_width: int, spans: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None):
        """Returns response logits [B, Tc, V] and step logits [S]. `spans` (rows, cols, step index,
        each [N]; `RolloutBatch.span_*`) are what a pooled head averages over."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         output_hidden_states=True, use_cache=False, logits_to_keep=response_width + 1)
        logits = out.logits[:, :-1]                                     # [B, Tc, V], predicts responses
        states = out.hidden_states[self.hidden_layer]                   # [B, P + Tc, h]
        if self.pool_steps:
            if spans is None:
                raise ValueError("a pooled+logprob head needs the step spans (RolloutBatch.span_*)")
            rows, cols, seg = spans
            h = segment_mean(states[rows, cols].float(), seg, step_rows.shape[0])  # [S, h], as at capture
        else:
            h = states[step_rows, step_cols]                            # [S, h]
        self.last_step_hidden = h.detach()                              # head scores for tracking (vLLM rollouts)
        h = scale_backbone_grad(h.float(), self.backbone_grad_scale)
        return logits, self.head(h, step_logprob)                       # [B, Tc, V], [S]


@torch.no_grad()
def reference_logprobs(ref_model: nn.Module, batch: RolloutBatch, temperature: float) -> torch.Tensor:
    """Response token log-probs [B, Tc] under the frozen reference policy (same temperature)."""
    tc = batch.responses.shape[1]
    out = ref_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    position_ids=batch.position_ids, use_cache=False, logits_to_keep=tc + 1)
    return logprobs_and_entropy(out.logits[:, :-1], batch.responses, temperature, entropy=False)[0]


@dataclass
class JointLoss:
    """The differentiable total (this process's share) and batch-wide diagnostics (floats)."""

    total: torch.Tensor
    policy_loss: float
    spr_loss: float
    kl: float
    entropy: float
    clip_fraction: float
    spr_kept: float
    spr_kept_pos: float
    spr_kept_neg: float
    spr_pairwise: float = float("nan")


@dataclass
class HeadLoss:
    """The head's part of the loss: eq. 6 (or BCE) plus `spr.pairwise_coef` x the pairwise term."""

    loss: torch.Tensor
    spr: SPRLossOutput
    totals: StepTotals
    pairwise: float


def head_loss(step_logits: torch.Tensor, batch: RolloutBatch, cfg: TrainConfig, spr_kind: LossKind,
              reduce_sum: ReduceSum) -> HeadLoss:
    """The SPR loss of `step_logits` [S] on `batch`'s step labels, normalised over all processes."""
    labels = batch.step_labels                                         # [S]
    p_local, n_local_kept = kept_counts(step_logits, labels, spr_kind)
    totals = StepTotals(reduce_sum(p_local), reduce_sum(n_local_kept), reduce_sum(float(labels.numel())))
    spr = spr_loss(step_logits, labels, spr_kind, cfg.spr.pos_weight, totals=totals)
    loss, pairwise = spr.loss, float("nan")
    if cfg.spr.pairwise_coef > 0:
        term, _ = group_pairwise_loss(step_logits, batch.step_rows, labels, cfg.rollout.group_size, reduce_sum)
        loss = loss + cfg.spr.pairwise_coef * term
        pairwise = reduce_sum(_item(term))
    return HeadLoss(loss, spr, totals, pairwise)


def head_only_update(head: nn.Module, optimizer: torch.optim.Optimizer, hidden: torch.Tensor, batch: RolloutBatch,
                     cfg: TrainConfig, spr_kind: LossKind, reduce_sum: ReduceSum) -> float:
    """One more update of the head alone (`spr.head_updates` > 1) on detached step states [S, h].

    The policy's parameters have no gradient here, so AdamW leaves them as they are. Returns the
    head loss before the update.
    """
    head.train()
    optimizer.zero_grad(set_to_none=True)
    hl = head_loss(head(hidden.float(), batch.step_logprob), batch, cfg, spr_kind, reduce_sum)
    hl.loss.backward()
    if cfg.optim.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(head.parameters(), cfg.optim.grad_clip)
    optimizer.step()
    return _item(hl.loss)


def joint_loss(joint: nn.Module, batch: RolloutBatch, advantages: torch.Tensor, cfg: TrainConfig,
               spr_kind: LossKind, ref_logprob: torch.Tensor | None, reduce_sum: ReduceSum,
               world: int) -> JointLoss:
    """Forward `joint` on `batch` and combine the GRPO and SPR losses (docs/method.md section 3).

    `advantages` [B] (group-relative, this process's groups); `ref_logprob` [B, Tc] or None
    (kl_coef 0). Logits are divided by the sampling temperature, as verl does for the actor.
    """
    tc = batch.responses.shape[1]
    logits, step_logits = joint(batch.input_ids, batch.attention_mask, batch.position_ids, batch.step_rows,
                                batch.step_cols, batch.step_logprob, tc,
                                (batch.span_rows, batch.span_cols, batch.span_steps))
    logprob, token_entropy = logprobs_and_entropy(logits, batch.responses, cfg.rollout.temperature)  # [B, Tc] x 2
    mask = batch.response_mask                                         # [B, Tc]
    n_local = float(mask.sum())
    n_global = max(reduce_sum(n_local), 1.0)
    share = n_local / n_global                                         # token-mean over the batch

    pg = clipped_policy_loss(logprob, logprob.detach(), advantages, mask, cfg.grpo.clip)
    entropy = masked_mean(token_entropy, mask)
    policy = pg.loss - cfg.grpo.entropy_coef * entropy
    kl = torch.zeros((), device=logprob.device)
    if ref_logprob is not None:
        kl = masked_mean(low_var_kl(logprob, ref_logprob), mask)
        policy = policy + cfg.grpo.kl_coef * kl

    hl = head_loss(step_logits, batch, cfg, spr_kind, reduce_sum)
    spr, totals = hl.spr, hl.totals
    n_pos = reduce_sum(float(spr.n_pos))
    n_neg = reduce_sum(float(spr.n_neg))
    kept_pos, kept_neg = (totals.kept_pos, totals.kept_neg) if spr_kind != "bce" else (n_pos, n_neg)
    total = (policy * share + hl.loss) * world
    return JointLoss(
        total=total,
        policy_loss=reduce_sum(_item(pg.loss) * share),
        spr_loss=reduce_sum(_item(spr.loss)),
        kl=reduce_sum(_item(kl) * share),
        entropy=reduce_sum(_item(entropy) * share),
        clip_fraction=reduce_sum(_item(pg.clip_fraction) * share),
        spr_kept=(kept_pos + kept_neg) / totals.steps if totals.steps else float("nan"),
        spr_kept_pos=kept_pos / n_pos if n_pos else float("nan"),
        spr_kept_neg=kept_neg / n_neg if n_neg else float("nan"),
        spr_pairwise=hl.pairwise,
    )


def _item(t: torch.Tensor) -> float:
    return float(t.detach())

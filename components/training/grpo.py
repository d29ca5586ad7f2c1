"""GRPO for the policy (docs/method.md section 3): pure functions on tensors.

The policy part of the joint objective is

    loss = pg_loss - entropy_coef * entropy + kl_coef * kl        (+ spr_loss, see spr_loss.py)

with group-relative advantages (Shao et al. 2024), a PPO-style clipped ratio at token level, the
k3 (`low_var_kl`) estimator of KL(policy || reference) and the policy's token entropy, each averaged
over the response tokens of the whole batch (token-mean, as verl 0.2 and the reference do).
Shapes: B = completions in the batch (prompts x G), T = response tokens (padded), V = vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """Group-relative advantage `(r - mean_group) / (std_group + eps)` (docs/method.md section 3).

    `rewards` [B] holds B = n_groups * group_size outcome rewards, each prompt's group contiguous.
    The std is the unbiased one (`torch.std`, as verl's `compute_grpo_outcome_advantage`); a group
    whose rewards are all equal gets advantage exactly 0 for every member. Returns [B].
    """
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B], got shape {tuple(rewards.shape)}")
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 for group-relative advantages, got {group_size}")
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.view(-1, group_size)                     # [n_groups, G]
    mean = grouped.mean(dim=1, keepdim=True)                   # [n_groups, 1]
    std = grouped.std(dim=1, keepdim=True)                     # [n_groups, 1], unbiased
    adv = (grouped - mean) / (std + eps)                       # [n_groups, G]
    # A group of identical rewards carries no signal: exactly 0 (not rounding noise / eps).
    tied = (grouped == grouped[:, :1]).all(dim=1, keepdim=True)  # [n_groups, 1]
    return torch.where(tied, torch.zeros_like(adv), adv).reshape(-1)  # [B]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over positions where `mask` is 1 (token-mean over the batch); 0 if none."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


@dataclass(frozen=True)
class PolicyLoss:
    """Clipped policy-gradient loss (scalar, differentiable) and the share of clipped tokens."""

    loss: torch.Tensor
    clip_fraction: torch.Tensor


def clipped_policy_loss(
    logprob: torch.Tensor,
    old_logprob: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> PolicyLoss:
    """PPO-style clipped surrogate at token level (docs/method.md section 3, GRPO).

    `logprob`, `old_logprob`, `mask` are [B, T] (log-probs of the sampled response tokens under the
    current and the sampling policy; mask 1 on response tokens); `advantages` is [B] (one per
    completion, broadcast over its tokens). Per token: `max(-A * ratio, -A * clip(ratio, 1-c, 1+c))`
    with `ratio = exp(logprob - old_logprob)`; the loss is the mean over all masked tokens. On the
    first (on-policy) update the ratio is 1 and the gradient is `-A * grad logprob`.
    """
    ratio = torch.exp(logprob - old_logprob)                   # [B, T]
    adv = advantages.unsqueeze(-1)                             # [B, 1]
    unclipped = -adv * ratio                                   # [B, T]
    clipped = -adv * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)  # [B, T]
    per_token = torch.maximum(unclipped, clipped)              # [B, T]
    clip_fraction = masked_mean((clipped > unclipped).to(logprob.dtype), mask).detach()
    return PolicyLoss(masked_mean(per_token, mask), clip_fraction)


def low_var_kl(logprob: torch.Tensor, ref_logprob: torch.Tensor, bound: float = 10.0) -> torch.Tensor:
    """k3 estimator of KL(policy || reference) per token, clamped to [-bound, bound] as verl does.

    With `d = ref_logprob - logprob` (log of the ratio ref/policy at the sampled token),
    `k3 = exp(d) - d - 1`, which is >= 0 and unbiased for the KL under samples from the policy
    (Schulman, "Approximating KL divergence"; verl's `kl_penalty="low_var_kl"`). Shapes [B, T] -> [B, T].
    """
    d = ref_logprob - logprob                                  # [B, T]
    return torch.clamp(torch.exp(d) - d - 1.0, min=-bound, max=bound)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution at each position: [B, T, V] -> [B, T].

    `H = logsumexp(z) - sum(softmax(z) * z)`, numerically stable for large logits.
    """
    probs = torch.softmax(logits, dim=-1)                      # [B, T, V]
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


# Above this many logits, `logprobs_and_entropy` works in chunks of about this many (fp32, 256 MiB).
CHUNK_ELEMENTS = 1 << 26


def logprobs_and_entropy(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0,
                         chunk_elements: int = CHUNK_ELEMENTS,
                         entropy: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token log-probs and entropies of `logits / temperature`: [B, T, V], [B, T] -> fp32 [B, T], [B, T].

    `entropy=False` skips the entropy (returned as None): the reference policy needs log-probs only.

    Small inputs (at most `chunk_elements` logits) go through `token_logprobs` and
    `entropy_from_logits` on an fp32 copy. Larger ones (a 150k-token vocabulary: 32 x 512 x 152k
    logits are 9.3 GiB in fp32, and plain autograd keeps several such copies) are processed a
    slice of positions at a time, forward and backward, so only the logits themselves (in their
    own dtype) and one fp32 slice are held; the gradient is the same up to float rounding.
    """
    if logits.numel() <= chunk_elements:
        z = logits.float() / temperature
        return token_logprobs(z, tokens), entropy_from_logits(z) if entropy else None
    rows = max(1, chunk_elements // logits.shape[-1])
    lp, ent = _ChunkedLogprobEntropy.apply(logits, tokens, float(temperature), rows, entropy)
    return lp, ent if entropy else None


def _slices(shape: torch.Size, rows: int):
    """(b, time slice) pairs covering [B, T] in runs of at most `rows` positions."""
    B, T = shape[0], shape[1]
    for b in range(B):
        for t0 in range(0, T, rows):
            yield b, slice(t0, min(t0 + rows, T))


class _ChunkedLogprobEntropy(torch.autograd.Function):
    """`logprobs_and_entropy` for large vocabularies; recomputes the softmax in backward.

    With z = logits / temperature, p = softmax(z) and E = sum(p * z):
    d logp(tok) / dz = onehot(tok) - p and dH / dz = -p * (z - E).
    """

    @staticmethod
    def forward(ctx, logits, tokens, temperature, rows, with_entropy):
        lp = torch.empty(logits.shape[:2], dtype=torch.float32, device=logits.device)
        ent = torch.zeros_like(lp)                                     # stays 0 without `with_entropy`
        lse = torch.empty_like(lp)
        for b, ts in _slices(logits.shape, rows):
            z = logits[b, ts].float() / temperature                    # [t, V]
            lse[b, ts] = torch.logsumexp(z, dim=-1)
            if with_entropy:
                ent[b, ts] = lse[b, ts] - (torch.exp(z - lse[b, ts, None]) * z).sum(-1)
            lp[b, ts] = z.gather(-1, tokens[b, ts, None]).squeeze(-1) - lse[b, ts]
        ctx.save_for_backward(logits, tokens, lse)
        ctx.temperature, ctx.rows = temperature, rows
        return lp, ent

    @staticmethod
    def backward(ctx, g_lp, g_ent):
        logits, tokens, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        g_lp = torch.zeros_like(lse) if g_lp is None else g_lp.float()
        g_ent = torch.zeros_like(lse) if g_ent is None else g_ent.float()
        for b, ts in _slices(logits.shape, ctx.rows):
            z = logits[b, ts].float() / ctx.temperature                # [t, V]
            p = torch.exp(z - lse[b, ts, None])
            e = (p * z).sum(-1, keepdim=True)
            g = -p * (g_lp[b, ts, None] + g_ent[b, ts, None] * (z - e))
            g.scatter_add_(-1, tokens[b, ts, None], g_lp[b, ts, None])
            grad[b, ts] = (g / ctx.temperature).to(grad.dtype)
        return grad, None, None, None, None


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-prob of each given token: logits [B, T, V], tokens [B, T] (int) -> [B, T]."""
    # gather - logsumexp: no [B, T, V] log-softmax copy (matters for 150k-token vocabularies).
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # [B, T]
    return picked - torch.logsumexp(logits, dim=-1)               # [B, T]

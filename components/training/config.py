"""The training stage's config (params.yaml section `train`), as nested frozen dataclasses.

Defaults are docs/method.md section 3's constants (the reference's verl run); params.yaml overrides
those the embedded 1M-parameter default needs otherwise, with the reason beside each.
Load with `components.config.load_section(TrainConfig, "train")`, which refuses unknown keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from components.model.sprm_head import Features
from components.config import ConfigError


def _check(ok: bool, message: str) -> None:
    """Refuse an out-of-range value with a one-line message naming the key."""
    if not ok:
        raise ConfigError(f"train.{message}")


@dataclass(frozen=True)
class RolloutConfig:
    """On-policy sampling: `prompts_per_step` prompts x `group_size` completions each."""

    prompts_per_step: int = 32
    group_size: int = 8
    temperature: float = 0.6
    top_p: float = 1.0
    max_new_tokens: int = 1024
    generate_batch_size: int = 256    # sequences per generate call (memory knob, not the method)
    # Who samples: `hf` (the policy itself: lean decoder or library forward, with hidden-state
    # capture) or `vllm` (a vLLM engine in the training process on the same GPU, weights loaded
    # from the policy after every optimizer step; needs the `gpu` extra and CUDA).
    backend: Literal["hf", "vllm"] = "hf"
    vllm_memory_fraction: float = 0.3  # share of the GPU's memory the vLLM engine may take

    def __post_init__(self) -> None:
        _check(self.prompts_per_step >= 1, f"rollout.prompts_per_step must be >= 1, got {self.prompts_per_step}")
        _check(self.group_size >= 2, f"rollout.group_size must be >= 2 (GRPO compares within a group), got {self.group_size}")
        _check(self.temperature > 0, f"rollout.temperature must be > 0, got {self.temperature}")
        _check(0 < self.top_p <= 1, f"rollout.top_p must be in (0, 1], got {self.top_p}")
        _check(self.max_new_tokens >= 1, f"rollout.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        _check(self.generate_batch_size >= 1, f"rollout.generate_batch_size must be >= 1, got {self.generate_batch_size}")
        _check(self.backend in ("hf", "vllm"), f"rollout.backend: {self.backend!r} is not one of ['hf', 'vllm']")
        _check(0 < self.vllm_memory_fraction < 1,
               f"rollout.vllm_memory_fraction must be in (0, 1), got {self.vllm_memory_fraction}")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with two parameter groups (policy, SPRM head), linear warm-up then constant lr."""

    policy_lr: float = 1e-6
    head_lr: float = 1e-5
    weight_decay: float = 1e-2
    grad_clip: float = 1.0            # max global grad norm; 0 disables clipping
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        _check(self.policy_lr >= 0 and self.head_lr >= 0, "optim: learning rates must be >= 0")
        _check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.grad_clip >= 0, f"optim.grad_clip must be >= 0, got {self.grad_clip}")
        _check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclass(frozen=True)
class GRPOConfig:
    """`loss = spr_loss + pg_loss - entropy_coef * entropy + kl_coef * kl` (docs/method.md section 3)."""

    clip: float = 0.2
    kl_coef: float = 0.001            # 0 skips the frozen reference model entirely
    entropy_coef: float = 0.001
    eps: float = 1e-6                 # in (r - mean) / (std + eps)
    # Stop (with a clear message) when the run's first this many steps all had identical rewards in
    # every group: every advantage is 0, so there is nothing to learn from (set too hard or too easy).
    no_signal_patience: int = 5       # 0 never stops

    def __post_init__(self) -> None:
        _check(self.no_signal_patience >= 0, f"grpo.no_signal_patience must be >= 0, got {self.no_signal_patience}")
        _check(0 < self.clip < 1, f"grpo.clip must be in (0, 1), got {self.clip}")
        _check(self.kl_coef >= 0, f"grpo.kl_coef must be >= 0, got {self.kl_coef}")
        _check(self.eps > 0, f"grpo.eps must be > 0, got {self.eps}")


@dataclass(frozen=True)
class SPRConfig:
    """The head's loss (eq. 6): `spr` (dynamic weight + class balancing) or plain `bce`."""

    loss: Literal["spr", "bce"] = "spr"
    bce_warmup_steps: int = 0         # BCE for the first steps (escapes the filter's fixed point)
    # The warm-up's BCE: class-balanced (an improvement, see spr_loss.py) or plain.
    warmup_loss: Literal["balanced_bce", "bce"] = "balanced_bce"
    # Head lr during the warm-up (None: optim.head_lr throughout). SPR sharpens what the head
    # believes; at the warm-up's lr it over-sharpens and loses ranking (measured on fixed rollouts of
    # the tiny default: AUROC 0.90 -> 0.73 over 60 updates), at a 10x smaller lr it keeps 0.90
    # while the score gap keeps opening.
    warmup_head_lr: float | None = None
    backbone_grad_scale: float = 1e-4
    pos_weight: float = 1.5
    # Experiments of issue 14 item 3 (0 and 1 = the paper's SPR alone, one head update per rollout):
    # `pairwise_coef` adds a within-group ranking term on trajectory scores
    # (spr_loss.group_pairwise_loss); `head_updates` > 1 makes that many more head-only updates per
    # rollout on the step features of the update's forward (detached: the backbone moves once).
    pairwise_coef: float = 0.0
    head_updates: int = 1

    def __post_init__(self) -> None:
        _check(self.pairwise_coef >= 0, f"spr.pairwise_coef must be >= 0, got {self.pairwise_coef}")
        _check(self.head_updates >= 1, f"spr.head_updates must be >= 1, got {self.head_updates}")
        _check(self.bce_warmup_steps >= 0, f"spr.bce_warmup_steps must be >= 0, got {self.bce_warmup_steps}")
        _check(0 <= self.backbone_grad_scale <= 1, f"spr.backbone_grad_scale must be in [0, 1], got {self.backbone_grad_scale}")
        _check(self.pos_weight > 0, f"spr.pos_weight must be > 0, got {self.pos_weight}")
        _check(self.warmup_head_lr is None or self.warmup_head_lr >= 0,
               f"spr.warmup_head_lr must be >= 0 or null, got {self.warmup_head_lr}")


@dataclass(frozen=True)
class RewardConfig:
    """Outcome reward: 1 correct, `format_reward` well-formed but wrong, 0 malformed."""

    format_reward: float = 0.1

    def __post_init__(self) -> None:
        _check(0 <= self.format_reward < 0.5, f"reward.format_reward must be in [0, 0.5) (correct means reward > 0.5), got {self.format_reward}")


@dataclass(frozen=True)
class TrackingConfig:
    """The aha step: first step from which the score gap stays > `aha_threshold` for `aha_window` steps."""

    aha_threshold: float = 0.1
    aha_window: int = 5
    experiment: str = "reflective-math"   # MLflow experiment name

    def __post_init__(self) -> None:
        _check(self.aha_window >= 1, f"tracking.aha_window must be >= 1, got {self.aha_window}")


@dataclass(frozen=True)
class CheckpointConfig:
    """Save every `every_steps` optimisation steps (0: only at the end) and at the end."""

    every_steps: int = 50
    keep_last: int = 2                # older checkpoints are deleted (0 keeps all)

    def __post_init__(self) -> None:
        _check(self.every_steps >= 0, f"checkpoint.every_steps must be >= 0, got {self.every_steps}")
        _check(self.keep_last >= 0, f"checkpoint.keep_last must be >= 0, got {self.keep_last}")


@dataclass(frozen=True)
class TrainConfig:
    """Joint GRPO + SPR training (docs/method.md section 3)."""

    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    spr: SPRConfig = field(default_factory=SPRConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    steps: int = 100
    seed: int = 0
    # What a fresh SPRM head reads (components/model/sprm_head.py); None: the model's own head.
    # A step-feature trial (issue 14 item 3): `hidden+logprob+entropy` adds the step's entropy and
    # not-most-likely share, which only the hf rollout backend records (vLLM gives no full logits).
    sprm_features: Features | None = None

    def __post_init__(self) -> None:
        _check(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        _check(not (self.sprm_features == "hidden+logprob+entropy" and self.rollout.backend == "vllm"),
               "sprm_features: hidden+logprob+entropy needs the token entropy, which rollout.backend vllm "
               "does not return; use rollout.backend hf or sprm_features hidden+logprob")


def with_overrides(cfg: TrainConfig, steps: int | None = None, loss: str | None = None) -> TrainConfig:
    """`cfg` with the command line's overrides: the step count and the head loss (`spr`/`bce`)."""
    from dataclasses import replace

    if steps is not None:
        cfg = replace(cfg, steps=steps)
    if loss is not None:
        _check(loss in ("spr", "bce"), f"spr.loss: {loss!r} is not one of ['spr', 'bce']")
        cfg = replace(cfg, spr=replace(cfg.spr, loss=loss))  # type: ignore[arg-type]
    return cfg


def lr_factors(cfg: TrainConfig) -> list[Callable[[int], float]]:
    """Per-group lr multipliers at 0-based step s: [policy, head]. Pure functions of s (resume-safe).

    Both ramp linearly over `optim.warmup_steps` (from 1/warmup at step 0, so no step is spent at
    lr 0); during the head's BCE warm-up the head runs at `spr.warmup_head_lr` (when set) instead of
    `optim.head_lr`. transformers' schedule helpers give every group one lambda, so this per-group
    pair stays ours; the bootstrap's plain warm-up + cosine is theirs.
    """
    warm = cfg.optim.warmup_steps
    head_warm = cfg.spr.bce_warmup_steps if cfg.spr.loss == "spr" else 0
    boost = (cfg.spr.warmup_head_lr / cfg.optim.head_lr
             if cfg.spr.warmup_head_lr is not None and cfg.optim.head_lr > 0 else 1.0)

    def ramp(s: int) -> float:
        return min(1.0, (s + 1) / warm) if warm else 1.0

    def head(s: int) -> float:
        return ramp(s) * (boost if s < head_warm else 1.0)
    return [ramp, head]

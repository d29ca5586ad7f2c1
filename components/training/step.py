"""One joint GRPO + SPR step (docs/method.md section 3): the trainer's parts and `train_step`.

`build_trainer` puts a loaded policy + head together with its optimizer, schedule and process
layout; `train_step` makes one step on it, in four timed phases:

1. `train_time/generate`: the step's prompts (`step_prompts`, this process's share) go to a `Rollout`,
   G completions each: the policy's own KV-cached sampler (`PolicyRollout`, hidden states captured)
   or a vLLM engine (`vllm_rollouts.EngineRollout`, states taken from the update's forward);
2. `train_time/score`: grading (`Trainer.reward`) and, for captured states, the head's tracking scores;
3. `train_time/update`: group advantages, one forward + backward of policy and head together
   (`joint_loss`), clipping, ONE AdamW step (separate learning rates), the rollout's weight sync.

`reflect train` (`trainer.py`) and the GPU benchmarks run this same function; a benchmark passes its
own rollout (random token ids) and reward (random), never its own copy of the step.
"""

from __future__ import annotations

import functools

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from components.model.candidate import Candidate, SamplingConfig
from components.signals import deferred_interrupts
from components.training import checkpointing as ckpt
from components.training import parallel as par
from components.training.config import TrainConfig, lr_factors
from components.training.grpo import group_advantages
from components.training.joint_loss import PolicyWithHead, head_only_update, joint_loss, reference_logprobs
from components.training.rollouts import build_batch, step_prompts
from components.training.run_log import RunLog, SilentRunLog
from components.training.spr_loss import loss_kind_at
from components.training.tracking import head_metrics

TIMING_KEYS = ("train_time/generate", "train_time/score", "train_time/update", "train/completions_per_s")


class TrainingDivergedError(RuntimeError):
    """A non-finite loss or gradient; the message names the step and the last good checkpoint."""


@dataclass
class Samples:
    """One step's completions, G consecutive per prompt, and each prompt's token ids."""

    candidates: list[Candidate]
    prompt_ids: list[list[int]]              # indexed by `Candidate.prompt_index`


class Rollout(Protocol):
    """Where a step's completions come from."""

    hidden_from_update: bool                 # True: no captured states; head scores come from the update pass

    def sample(self, indices: Sequence[int], group_size: int, seed: int) -> Samples: ...

    def after_update(self, model) -> None:
        """Called after every optimizer step (an engine loads the new weights here)."""


class PolicyRollout:
    """The policy's own sampler: KV-cached, second-to-last layer captured at every step token."""

    hidden_from_update = False

    def __init__(self, rm, problems: Sequence[str], sampling: SamplingConfig, batch_size: int):
        self.rm, self.problems, self.sampling, self.batch_size = rm, problems, sampling, batch_size

    def sample(self, indices: Sequence[int], group_size: int, seed: int) -> Samples:
        prompts = [self.rm.encode_prompt(self.problems[i]) for i in indices]
        with par.gathered(self.rm.model):    # full parameters (no-op unsharded)
            groups = self.rm.generate(prompts, group_size, self.sampling, seed=seed,
                                      batch_size=self.batch_size, score=False)
        return Samples([c for g in groups for c in g], prompts)

    def after_update(self, model) -> None:
        pass


@dataclass
class Trainer:
    """Everything a step reads or moves; `trainer.fit` adds checkpoints, signals and MLflow around it."""

    cfg: TrainConfig
    acc: Any                                 # accelerate.Accelerator
    rm: Any                                  # ReflectiveModel: .model, .head, .tokenizer, .score_candidates
    joint: Any                               # PolicyWithHead, wrapped by accelerate (DDP) unless FSDP
    joint_module: PolicyWithHead
    optimizer: torch.optim.Optimizer
    scheduler: Any
    ref_model: Any | None
    rows: int                                # training problems (the step's prompts index them)
    rollout: Rollout
    reward: Callable[[Candidate, int], float]   # (completion, training row) -> reward
    state: ckpt.TrainerState
    fsdp: bool
    reduce_sum: Callable[[float], float]
    run_log: RunLog = field(default_factory=SilentRunLog)
    last_ckpt: Path | None = None
    say: Callable[[str], None] = lambda _m: None   # progress lines (the main process's; others stay silent)

    @functools.cached_property
    def params(self) -> tuple[torch.nn.Parameter, ...]:
        """Policy and head parameters (after any FSDP wrapping, which happens before the trainer exists)."""
        return (*self.rm.model.parameters(), *self.rm.head.parameters())


def build_trainer(cfg: TrainConfig, acc, rm, ref_model, rows: int, rollout: Rollout,
                  reward: Callable[[Candidate, int], float], state: ckpt.TrainerState,
                  loaded: ckpt.LoadedCheckpoint | None = None) -> Trainer:
    """Shard (FSDP) or wrap (DDP) the policy and head, build AdamW + the LR schedule, restore `loaded`."""
    world = acc.num_processes
    if world > 1 and cfg.spr.head_updates > 1:
        raise ValueError(f"train.spr.head_updates = {cfg.spr.head_updates} runs on one process only "
                         f"(the extra head updates are not synchronised across {world}); set it to 1")
    fsdp = world > 1 and par.fsdp_requested(acc)
    if fsdp:                                 # shard before the optimizer sees the parameters
        settings = par.fsdp_settings(acc)
        par.broadcast_from_main(rm.model, rm.head, ref_model)   # every rank starts from rank 0's weights
        par.shard_policy(rm.model, settings)
        par.shard_head(rm.head)
        if ref_model is not None:
            par.shard_policy(ref_model, settings, checkpointing=False)
    joint = joint_module = PolicyWithHead(rm.model, rm.head, cfg.spr.backbone_grad_scale, rm.spec.hidden_layer)
    optimizer = torch.optim.AdamW(
        [{"params": list(rm.model.parameters()), "lr": cfg.optim.policy_lr},
         {"params": list(rm.head.parameters()), "lr": cfg.optim.head_lr}], weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factors(cfg))
    if loaded:
        if fsdp:
            par.load_optimizer_state(joint, optimizer, loaded.optimizer, loaded.path)
        else:
            par.check_unsharded_optimizer_state(loaded.optimizer, loaded.path)
            optimizer.load_state_dict(loaded.optimizer)
        scheduler.load_state_dict(loaded.state.scheduler)
        ckpt.restore_rng(loaded.rng)
    if not fsdp:                             # DDP (or nothing) through accelerate
        joint = acc.prepare(joint)
    return Trainer(cfg, acc, rm, joint, joint_module, optimizer, scheduler, ref_model, rows, rollout, reward,
                   state, fsdp, par.reducer(acc), last_ckpt=loaded.path if loaded else None)


def train_step(tr: Trainer) -> dict[str, float]:
    """Make step `tr.state.step + 1`: sample, grade, score, update; log and return its metrics."""
    cfg, acc, rm = tr.cfg, tr.acc, tr.rm
    rank, world, g = acc.process_index, acc.num_processes, cfg.rollout.group_size
    per_step = cfg.rollout.prompts_per_step
    s = tr.state.step + 1                    # 1-based number of the step being made
    seed_step(cfg.seed, s, rank)
    t0 = time.perf_counter()
    mine = step_prompts(tr.rows, s - 1, per_step, cfg.seed)[rank * per_step // world:(rank + 1) * per_step // world]
    rm.model.eval()
    try:
        samples = tr.rollout.sample(mine, g, gen_seed(cfg.seed, s, rank))
    except RuntimeError as exc:              # sampling refuses NaN/inf probabilities
        if "inf" in str(exc) or "nan" in str(exc):
            raise TrainingDivergedError(diverged(s, "probabilities while sampling", tr.last_ckpt)) from None
        raise
    t1 = time.perf_counter()
    cands = samples.candidates
    rewards = [tr.reward(c, mine[c.prompt_index]) for c in cands]
    if not tr.rollout.hidden_from_update:
        with par.gathered(rm.head):
            rm.score_candidates(cands)
        track = _track(acc, rewards, cands, g)
    t2 = time.perf_counter()

    adv = group_advantages(torch.tensor(rewards), g, cfg.grpo.eps)
    batch = build_batch([samples.prompt_ids[c.prompt_index] for c in cands], cands, rewards,
                        rm.tokenizer.pad_token_id).to(acc.device)
    ref_lp = reference_logprobs(tr.ref_model, batch, cfg.rollout.temperature) if tr.ref_model is not None else None
    tr.joint.train()
    spr_kind = loss_kind_at(s - 1, cfg.spr.loss, cfg.spr.bce_warmup_steps, cfg.spr.warmup_loss)
    jl = joint_loss(tr.joint, batch, adv.to(acc.device), cfg, spr_kind, ref_lp, tr.reduce_sum, world)
    if tr.rollout.hidden_from_update:        # head scores (eval mode) on the update pass's hidden states
        from components.training.vllm_rollouts import scores_from_update
        scores_from_update(rm, tr.joint_module.last_step_hidden, batch, cands)
        track = _track(acc, rewards, cands, g)
    if not math.isfinite(jl.policy_loss) or not math.isfinite(jl.spr_loss):
        raise TrainingDivergedError(diverged(s, f"loss (policy {jl.policy_loss}, spr {jl.spr_loss})", tr.last_ckpt))
    tr.optimizer.zero_grad(set_to_none=True)
    acc.backward(jl.total)
    max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
    grad_norm = (par.clip_grad_norm(tr.joint.parameters(), max_norm) if tr.fsdp
                 else float(acc.clip_grad_norm_(tr.joint.parameters(), max_norm)))
    if not math.isfinite(grad_norm):
        raise TrainingDivergedError(diverged(s, f"gradient norm {grad_norm}", tr.last_ckpt))
    lrs = tr.scheduler.get_last_lr()
    with deferred_interrupts():             # parameters, optimizer and step move together
        tr.optimizer.step()
        tr.scheduler.step()
        if not (par.all_finite(tr.params, tr.reduce_sum) if tr.fsdp else
                all(bool(torch.isfinite(p).all()) for p in tr.params)):
            raise TrainingDivergedError(diverged(s, "parameters after the update", tr.last_ckpt))
        for _ in range(cfg.spr.head_updates - 1):   # issue 14 item 3: the head sees this rollout again
            head_only_update(tr.joint_module.head, tr.optimizer, tr.joint_module.last_step_hidden, batch, cfg,
                             spr_kind, tr.reduce_sum)
        tr.rollout.after_update(rm.model)   # an engine samples the next step from the new weights
        t3 = time.perf_counter()
        metrics = _metrics(tr, track, jl, spr_kind, grad_norm, lrs, tied=tr.reduce_sum(float(_tied_groups(rewards, g))),
                           times=(t0, t1, t2, t3))
        tr.state.history.append({"step": float(s), **metrics})
        tr.state.step = s
        tr.run_log.log_metrics(metrics, step=s)
    return metrics


@dataclass
class _Tracked:
    rewards: list[float]
    lengths: list[float]
    correct: list[bool]
    head: Any                                # tracking.HeadMetrics


def _metrics(tr: Trainer, t: _Tracked, jl, spr_kind: str, grad_norm: float, lrs: list[float], tied: float,
             times: tuple[float, float, float, float]) -> dict[str, float]:
    t0, t1, t2, t3 = times
    hm = t.head
    return {
        "train/reward_mean": sum(t.rewards) / len(t.rewards),
        "train/pass_rate": sum(t.correct) / len(t.correct),
        "train/policy_loss": jl.policy_loss, "train/spr_loss": jl.spr_loss,
        "train/kl": jl.kl if tr.ref_model is not None else math.nan,
        "train/entropy": jl.entropy, "train/clip_fraction": jl.clip_fraction,
        "train/response_length": sum(t.lengths) / len(t.lengths),
        "train/score_gap": hm.score_gap, "train/sprm_auroc": hm.auroc,
        "train/sprm_auroc_within": hm.auroc_within,
        "train/sprm_accuracy": hm.accuracy,
        "train/score_correct": hm.mean_correct, "train/score_incorrect": hm.mean_incorrect,
        "train/spr_kept": jl.spr_kept, "train/spr_kept_pos": jl.spr_kept_pos,
        "train/spr_kept_neg": jl.spr_kept_neg, "train/spr_bce_phase": float(spr_kind != "spr"),
        "train/spr_pairwise": jl.spr_pairwise,
        "train/no_signal_groups": tied / tr.cfg.rollout.prompts_per_step, "train/grad_norm": grad_norm,
        "train/lr_policy": lrs[0], "train/lr_head": lrs[1],
        "train/param_local_fraction": par.local_fraction(tr.params),
        "train_time/generate": t1 - t0, "train_time/score": t2 - t1, "train_time/update": t3 - t2,
        "train/completions_per_s": len(t.rewards) / max(t3 - t0, 1e-9),
    }


def _track(acc, rewards: list[float], cands: Sequence[Candidate], group_size: int) -> _Tracked:
    """Batch-wide rewards, head scores and lengths (all processes) and the head's metrics on them."""
    g_rewards, g_scores, g_lengths = par.gather_columns(
        acc, [list(rewards), [c.score for c in cands], [float(c.n_tokens) for c in cands]])
    correct = [r > 0.5 for r in g_rewards]
    return _Tracked(g_rewards, g_lengths, correct, head_metrics(g_scores, correct, group_size))


def _tied_groups(rewards: list[float], g: int) -> int:
    return sum(len(set(rewards[i:i + g])) == 1 for i in range(0, len(rewards), g))


def diverged(step: int, what: str, last: Path | None) -> str:
    keep = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
    return f"step {step}: non-finite {what}; stopped, nothing saved ({keep}). Lower train.optim.policy_lr/head_lr"


def seed_step(seed: int, step: int, rank: int) -> None:
    """Seed torch (head dropout) per step and process: a resumed run repeats the uninterrupted one."""
    torch.manual_seed(gen_seed(seed, step, rank) + 7919)


def gen_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 1_009 + rank * 7_919_993) % (2**63 - 1)

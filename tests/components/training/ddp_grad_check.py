"""Run under `torchrun --nproc_per_node 2` by test_trainer.py: data-parallel shards give the full-batch gradient.

Each process computes the joint loss (GRPO + SPR, every head-loss kind) on its half of one fixed
rollout batch with batch-wide counts (`reduce_sum` over gloo); the averaged gradients must equal
the single-process gradient on the whole batch. Prints `max_abs_diff=<x>` and exits 1 above 1e-6.

Usage: ddp_grad_check.py MODEL_DIR
"""

import sys

import torch
import torch.distributed as dist

from components.model.candidate import SamplingConfig
from components.model.reflective import ReflectiveModel
from components.rewards.grading import reward
from components.training.config import TrainConfig
from components.training.grpo import group_advantages
from components.training.joint_loss import PolicyWithHead, joint_loss, reference_logprobs
from components.training.rollouts import build_batch

if __name__ == "__main__":
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    rm = ReflectiveModel.load(sys.argv[1])
    ref = ReflectiveModel.load(sys.argv[1]).model
    problems = [(a, b) for a in range(1, 5) for b in range(1, 3)]
    texts = [f"Compute {a}+{b}." for a, b in problems]
    groups = rm.generate(texts, 4, SamplingConfig(max_new_tokens=24), seed=1, score=False)   # same on all ranks
    cands = [c for g in groups for c in g]
    rewards = [reward(c.text, str(sum(problems[c.prompt_index]))) for c in cands]
    prompts = [rm.encode_prompt(t) for t in texts]
    joint = PolicyWithHead(rm.model, rm.head, 1e-4).eval()     # eval: no dropout, so runs are comparable

    def reduce_sum(x: float) -> float:
        t = torch.tensor([x], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t)

    def grads(cs, rs, kind, reduce, w):
        batch = build_batch([prompts[c.prompt_index] for c in cs], cs, rs, rm.tokenizer.pad_token_id)
        joint.zero_grad()
        loss = joint_loss(joint, batch, group_advantages(torch.tensor(rs), 4), TrainConfig(), kind,
                          reference_logprobs(ref, batch, 0.6), reduce, w)
        loss.total.backward()
        return torch.cat([p.grad.flatten() for p in joint.parameters()])

    worst = 0.0
    half = len(cands) // world
    for kind in ("spr", "balanced_bce", "bce"):
        full = grads(cands, rewards, kind, float, 1)
        mine = grads(cands[rank * half:(rank + 1) * half], rewards[rank * half:(rank + 1) * half], kind, reduce_sum, world)
        dist.all_reduce(mine)
        worst = max(worst, float((mine / world - full).abs().max()))
    if rank == 0:
        print(f"max_abs_diff={worst:.3e}")
    dist.destroy_process_group()
    sys.exit(0 if worst <= 1e-6 else 1)

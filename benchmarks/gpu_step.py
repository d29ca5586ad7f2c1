"""One joint GRPO + SPR step on a randomly initialised 1.5B-shaped Qwen2, timed (a GPU check).

The step is the trainer's (components/training/trainer.py), piece by piece: sample G completions
per prompt with our KV-cached sampler, capturing the second-to-last layer's states
(`sample_tokens`); score the steps with the SPRM head; group-relative advantages; the frozen
reference's log-probs (KL term); one forward + backward of policy and head together
(`joint_loss`); gradient clipping; one AdamW step. What differs from `reflect train`: a random
model has no text, so prompts are random token ids, rewards are drawn at random (half correct, so
every group has a signal) and a step token is placed every `--step-every` tokens.

Prints JSON lines: one per step (the first is a warm-up), then a summary with tokens/s (generated
tokens over the whole step time), the phase times and the peak GPU memory.

    python benchmarks/gpu_step.py                       # 1.5B shape, bf16, CUDA, 4 prompts x 8 x 512 tokens
    python benchmarks/gpu_step.py --precision amp      # fp32 weights and AdamW states, bf16 autocast
    python benchmarks/gpu_step.py --shape tiny --device cpu --precision fp32 --new-tokens 16   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from benchmarks.report import emit, machine  # noqa: E402

# weight dtype and autocast dtype of each --precision
PRECISIONS = {"bf16": ("bfloat16", None), "amp": ("float32", "bfloat16"), "fp32": ("float32", None)}

# DeepSeek-R1-Distill-Qwen-1.5B's config.json (the paper's smallest policy), and a tiny one for smoke runs.
SHAPES = {
    "1.5b": dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                 num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=131072,
                 rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False),
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                 tie_word_embeddings=False),
}


def build_policy(shape: str, device: str, dtype, seed: int):
    """A randomly initialised Qwen2ForCausalLM of the named shape, in `dtype` on `device`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(**SHAPES[shape], use_cache=True)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="1.5b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bf16", choices=sorted(PRECISIONS),
                    help="bf16: weights, optimizer states and compute in bf16; amp: fp32 weights and optimizer "
                         "states, bf16 autocast compute; fp32: everything fp32 (the head is fp32 in all three)")
    ap.add_argument("--prompts", type=int, default=4, help="prompts per step")
    ap.add_argument("--group", type=int, default=8, help="completions per prompt (G)")
    ap.add_argument("--new-tokens", type=int, default=512, help="completion length (a random model never stops)")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--step-every", type=int, default=32, help="a step token every this many tokens")
    ap.add_argument("--steps", type=int, default=3, help="steps to run; the first is a warm-up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hf-generate", action="store_true",
                    help="also time transformers' generate() on one step's prompts (plain sampling, no capture)")
    args = ap.parse_args(argv)

    import torch

    from components.config import load_section
    from components.model.candidate import Candidate, SamplingConfig
    from components.model.sampling import sample_tokens
    from components.model.sprm_head import SPRMHead
    from components.model.steps import step_logprob_features
    from components.training.config import TrainConfig
    from components.training.grpo import group_advantages
    from components.training.joint_loss import PolicyWithHead, joint_loss, reference_logprobs
    from components.training.rollouts import build_batch

    weights, compute = PRECISIONS[args.precision]
    dtype = getattr(torch, weights)
    cuda = args.device.startswith("cuda")
    autocast = (torch.autocast(args.device.split(":")[0], dtype=getattr(torch, compute)) if compute
                else contextlib.nullcontext())
    cfg = load_section(TrainConfig, "train")
    policy = build_policy(args.shape, args.device, dtype, args.seed)
    reference = build_policy(args.shape, args.device, dtype, args.seed).requires_grad_(False)
    hidden = policy.config.hidden_size
    head = SPRMHead(hidden, "hidden+logprob").to(args.device, torch.float32)
    joint = PolicyWithHead(policy, head, cfg.spr.backbone_grad_scale, -2)
    optimizer = torch.optim.AdamW([{"params": list(policy.parameters()), "lr": cfg.optim.policy_lr},
                                   {"params": list(head.parameters()), "lr": cfg.optim.head_lr}],
                                  weight_decay=cfg.optim.weight_decay)
    sampling = SamplingConfig(temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
                              max_new_tokens=args.new_tokens)
    vocab, pad = policy.config.vocab_size, 0
    stop = [vocab - 1]
    n_params = sum(p.numel() for p in policy.parameters())
    emit({"event": "setup", **machine(), "shape": args.shape, "device": args.device, "precision": args.precision,
          "policy_parameters": n_params, "gpu": torch.cuda.get_device_name() if cuda else None,
          "kl_coef": cfg.grpo.kl_coef})
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    rng = torch.Generator().manual_seed(args.seed)
    rows = []
    for step in range(args.steps):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        prompts = torch.randint(1, vocab - 1, (args.prompts, args.prompt_tokens), generator=rng).tolist()
        jobs = [p for p in prompts for _ in range(args.group)]
        sync()
        t0 = time.perf_counter()
        policy.eval()
        with autocast:
            batch = sample_tokens(policy, jobs, stop, sampling, args.new_tokens, gen, pad, -2, capture=True)
        sync()
        t1 = time.perf_counter()
        cands = []
        for row in range(len(jobs)):
            n = int(batch.lengths[row])
            positions = list(range(args.step_every - 1, n, args.step_every))
            cands.append(Candidate(prompt_index=row // args.group, text="", token_ids=batch.tokens[row, :n].tolist(),
                                   step_positions=positions, step_hidden=batch.hidden[row, positions].float(),
                                   step_logprob=step_logprob_features(batch.logprobs[row, :n], positions),
                                   mean_logprob=float(batch.logprobs[row, :n].mean()), finished=False))
        with torch.no_grad():
            head.eval()
            head(torch.cat([c.step_hidden for c in cands]).to(args.device),
                 torch.cat([c.step_logprob for c in cands]).to(args.device))
        rewards = (torch.rand(len(cands), generator=rng) < 0.5).float().tolist()
        sync()
        t2 = time.perf_counter()
        adv = group_advantages(torch.tensor(rewards), args.group, cfg.grpo.eps).to(args.device)
        rb = build_batch(jobs, cands, rewards, pad).to(args.device)
        joint.train()
        with autocast:
            ref_lp = reference_logprobs(reference, rb, cfg.rollout.temperature) if cfg.grpo.kl_coef > 0 else None
            jl = joint_loss(joint, rb, adv, cfg, "spr", ref_lp, float, 1)
        optimizer.zero_grad(set_to_none=True)
        jl.total.backward()
        torch.nn.utils.clip_grad_norm_(joint.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        sync()
        t3 = time.perf_counter()
        tokens = int(batch.lengths.sum())
        row = {"event": "step", "step": step + 1, "warmup": step == 0, "completions": len(cands),
               "generated_tokens": tokens, "time_generate_s": t1 - t0, "time_score_s": t2 - t1,
               "time_update_s": t3 - t2, "step_s": t3 - t0, "tokens_per_s": tokens / (t3 - t0),
               "generate_tokens_per_s": tokens / (t1 - t0),
               "update_tokens_per_s": (tokens + args.prompt_tokens * len(cands)) / (t3 - t2),
               "policy_loss": jl.policy_loss, "spr_loss": jl.spr_loss,
               "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}
        emit(row)
        rows.append(row)
    timed = [r for r in rows if not r["warmup"]] or rows
    hf = {}
    if args.hf_generate:
        ids = torch.tensor(jobs, device=args.device)
        sync()
        t0 = time.perf_counter()
        with autocast, torch.no_grad():
            out = policy.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, top_p=1.0,
                                  temperature=1.0, top_k=0, max_new_tokens=args.new_tokens, pad_token_id=pad,
                                  eos_token_id=stop)
        sync()
        hf_s = time.perf_counter() - t0
        hf_tokens = int((out[:, ids.shape[1]:] != pad).sum())
        hf = {"hf_generate_s": hf_s, "hf_generate_tokens_per_s": hf_tokens / hf_s}
        emit({"event": "hf_generate", "generated_tokens": hf_tokens, **hf})

    def mean(key: str) -> float:
        return sum(r[key] for r in timed) / len(timed)
    emit({"event": "summary", "shape": args.shape, "precision": args.precision, "device": args.device,
          "gpu": torch.cuda.get_device_name() if cuda else None, "policy_parameters": n_params,
          "prompts": args.prompts, "group": args.group, "new_tokens": args.new_tokens, "timed_steps": len(timed),
          **{k: mean(k) for k in ("step_s", "tokens_per_s", "generate_tokens_per_s", "update_tokens_per_s",
                                  "time_generate_s", "time_score_s", "time_update_s")},
          **hf, "peak_memory_gib": max(r["peak_memory_gib"] for r in timed) if cuda else None})
    return 0


if __name__ == "__main__":
    sys.exit(main())

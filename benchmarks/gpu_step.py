"""One joint GRPO + SPR step on a randomly initialised 1.5B-shaped Qwen2, timed (a GPU check).

The step is the trainer's own `components.training.step.train_step` (sample G completions per
prompt with our KV-cached sampler capturing the second-to-last layer's states, score the steps
with the SPRM head, group-relative advantages, the frozen reference's log-probs for the KL term,
one forward + backward of policy and head together, clipping, one AdamW step). What this benchmark
supplies instead of `reflect train`'s: a random model has no text, so its `Rollout` samples from
random prompt token ids and places a step token every `--step-every` tokens, and its reward is
drawn at random (half correct, so every group has a signal).

Prints JSON lines: one per step (the first is a warm-up), then a summary with tokens/s (generated
tokens over the whole step time), the phase times and the peak GPU memory.

    python benchmarks/gpu_step.py                       # 1.5B shape, bf16, CUDA, 4 prompts x 8 x 512 tokens
    python benchmarks/gpu_step.py --precision amp      # fp32 weights and AdamW states, bf16 autocast
    python benchmarks/gpu_step.py --shape tiny --device cpu --precision fp32 --new-tokens 16   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
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


def random_prompts(rng: random.Random, vocab: int, count: int, length: int) -> list[list[int]]:
    """`count` prompts of `length` random ids (0 and the last id, the pad and stop tokens, excluded)."""
    return [[rng.randrange(1, vocab - 1) for _ in range(length)] for _ in range(count)]


def synthetic_candidate(prompt_index: int, ids: list[int], logprobs, step_every: int, hidden=None):
    """A `Candidate` of a random-token completion: a step boundary every `step_every` tokens (a random
    model writes no `.\n\n`); `hidden` [n, h] the captured states, None when the update gives them."""
    import torch

    from components.model.candidate import Candidate
    from components.model.steps import step_logprob_features

    positions = list(range(step_every - 1, len(ids), step_every))
    return Candidate(prompt_index=prompt_index, text="", token_ids=ids, step_positions=positions,
                     step_hidden=hidden[positions].float() if hidden is not None else torch.zeros(0),
                     step_logprob=step_logprob_features(logprobs, positions),
                     mean_logprob=float(logprobs.mean()), finished=False)


class RandomTokenRollout:
    """The benchmark's `Rollout`: G completions of random prompt ids from our KV-cached sampler
    (states captured), a step token every `step_every` tokens (a random model writes no `.\\n\\n`)."""

    hidden_from_update = False

    def __init__(self, model, sampling, prompt_tokens: int, step_every: int, device: str, seed: int):
        self.model, self.sampling, self.prompt_tokens, self.step_every = model, sampling, prompt_tokens, step_every
        self.vocab = model.config.vocab_size
        self.device = device
        self.rng = random.Random(seed)
        self.last_jobs: list[list[int]] = []

    def sample(self, indices, group_size: int, seed: int):
        from components.model.sampling import sample_tokens
        from components.training.step import Samples

        import torch

        gen = torch.Generator(device=self.device).manual_seed(seed % (2**63))
        prompts = random_prompts(self.rng, self.vocab, len(indices), self.prompt_tokens)
        jobs = [p for p in prompts for _ in range(group_size)]
        batch = sample_tokens(self.model, jobs, [self.vocab - 1], self.sampling, self.sampling.max_new_tokens,
                              gen, 0, -2, capture=True)
        n = [int(k) for k in batch.lengths]
        cands = [synthetic_candidate(row // group_size, batch.tokens[row, :n[row]].tolist(), batch.logprobs[row, :n[row]],
                                     self.step_every, batch.hidden[row, :n[row]]) for row in range(len(jobs))]
        self.last_jobs = jobs
        return Samples(cands, prompts)

    def after_update(self, model) -> None:
        pass


def bench_config(args):
    """params.yaml's train section with the benchmark's prompts, G, completion length and seed."""
    from components.config import load_section
    from components.training.config import TrainConfig

    cfg = load_section(TrainConfig, "train")
    return dataclasses.replace(cfg, seed=args.seed, steps=args.steps, rollout=dataclasses.replace(
        cfg.rollout, prompts_per_step=args.prompts, group_size=args.group, max_new_tokens=args.new_tokens))


def bench_trainer(cfg, args, policy, reference, rollout, seed: int):
    """The trainer's parts (`build_trainer`) around `policy`, its reference, a fresh head, `rollout`
    and a random reward (half correct).

    The ReflectiveModel wraps the random Qwen2 with the embedded task's tokenizer (smaller than the
    model's vocabulary, which `ReflectiveModel` allows): only its pad id is read here."""
    import torch
    from accelerate import Accelerator

    from components.model.checkpoint import ReflectiveSpec
    from components.model.reflective import ReflectiveModel
    from components.model.sprm_head import SPRMHead
    from components.model.tokenizer import train_tokenizer
    from components.training import checkpointing as ckpt
    from components.training.step import build_trainer

    head = SPRMHead(policy.config.hidden_size, "hidden+logprob").to(args.device, torch.float32)
    tokenizer = train_tokenizer(["1 + 2 = 3.\n\n\\boxed{3}"], vocab_size=300)
    rm = ReflectiveModel(policy, tokenizer, head, ReflectiveSpec(sprm_features="hidden+logprob"))
    coin = random.Random(seed)
    acc = Accelerator(cpu=not args.device.startswith("cuda"))
    if cfg.grpo.kl_coef > 0:
        reference.requires_grad_(False).eval()
    return build_trainer(cfg, acc, rm, reference if cfg.grpo.kl_coef > 0 else None, rows=args.prompts * 64,
                         rollout=rollout, reward=lambda _c, _row: float(coin.random() < 0.5),
                         state=ckpt.TrainerState(step=0, config={}, architecture={}))


def run_steps(tr, args, autocast=contextlib.nullcontext(), cuda: bool = False) -> list[dict]:
    """`args.steps` calls of the trainer's `train_step`, each emitted as a JSON line (the first is a warm-up)."""
    import torch

    from components.training.step import train_step

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rows = []
    for step in range(args.steps):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        sync()
        t0 = time.perf_counter()
        with autocast:
            m = train_step(tr)
        sync()
        step_s = time.perf_counter() - t0
        completions = args.prompts * args.group
        tokens = round(m["train/response_length"] * completions)
        gen_s, score_s, update_s = m["train_time/generate"], m["train_time/score"], m["train_time/update"]
        row = {"event": "step", "step": step + 1, "warmup": step == 0, "completions": completions,
               "generated_tokens": tokens, "time_generate_s": gen_s, "time_score_s": score_s,
               "time_update_s": update_s, "step_s": step_s, "tokens_per_s": tokens / step_s,
               "generate_tokens_per_s": tokens / gen_s,
               "update_tokens_per_s": (tokens + args.prompt_tokens * completions) / update_s,
               "policy_loss": m["train/policy_loss"], "spr_loss": m["train/spr_loss"],
               "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}
        emit(row)
        rows.append(row)
    return rows


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

    from components.model.candidate import SamplingConfig

    weights, compute = PRECISIONS[args.precision]
    dtype = getattr(torch, weights)
    cuda = args.device.startswith("cuda")
    autocast = (torch.autocast(args.device.split(":")[0], dtype=getattr(torch, compute)) if compute
                else contextlib.nullcontext())
    cfg = bench_config(args)
    sampling = SamplingConfig(temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
                              max_new_tokens=args.new_tokens)
    policy = build_policy(args.shape, args.device, dtype, args.seed)
    reference = build_policy(args.shape, args.device, dtype, args.seed) if cfg.grpo.kl_coef > 0 else None
    rollout = RandomTokenRollout(policy, sampling, args.prompt_tokens, args.step_every, args.device, args.seed)
    tr = bench_trainer(cfg, args, policy, reference, rollout, args.seed)
    n_params = sum(p.numel() for p in tr.rm.model.parameters())
    emit({"event": "setup", **machine(), "shape": args.shape, "device": args.device, "precision": args.precision,
          "policy_parameters": n_params, "gpu": torch.cuda.get_device_name() if cuda else None,
          "kl_coef": cfg.grpo.kl_coef})
    rows = run_steps(tr, args, autocast, cuda)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    timed = [r for r in rows if not r["warmup"]] or rows
    hf = {}
    if args.hf_generate:
        ids = torch.tensor(tr.rollout.last_jobs, device=args.device)
        sync()
        t0 = time.perf_counter()
        with autocast, torch.no_grad():
            out = tr.rm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                       top_p=1.0, temperature=1.0, top_k=0, max_new_tokens=args.new_tokens,
                                       pad_token_id=0, eos_token_id=[tr.rm.model.config.vocab_size - 1])
        sync()
        hf_s = time.perf_counter() - t0
        hf_tokens = int((out[:, ids.shape[1]:] != 0).sum())
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

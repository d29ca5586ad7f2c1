"""One GRPO + SPR step three ways on a 1.5B-shaped Qwen2 in bf16: lean decoder, vLLM rollouts, TRL + vLLM.

Side by side in one run, each engine in its own process (so peak memory is its own), same shape,
same G and prompts per step, same completion length (a random model never stops, so every
completion has `--new-tokens` tokens):

- `lean`: our trainer's step with the lean KV-cached decoder capturing hidden states
  (`benchmarks/gpu_step.py`);
- `vllm`: our trainer's step with `train.rollout.backend: vllm`: a colocated vLLM engine samples
  (`components/training/vllm_rollouts.py`), the update's forward gives log-probs and step hidden
  states, the head scores come from it, then the new weights are loaded into the engine;
- `trl`: TRL's `GRPOTrainer` with `use_vllm=True, vllm_mode="colocate"` on the same model.

The random model gets a word-level tokenizer with one token per id (`t0` ... `t151935`), so TRL
can encode the prompts and decode anything it samples (vLLM gets token ids from both trainers). Rewards are random (half correct) as in gpu_step.py.
Prints JSON lines: each engine's summary, then `side_by_side` (generated tokens/s, step time,
peak GPU memory per engine).

    python benchmarks/gpu_engines.py                          # all three, 1.5B shape, CUDA
    python benchmarks/gpu_engines.py --engines lean --shape tiny --device cpu --precision fp32 --new-tokens 12
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from benchmarks.report import emit, machine  # noqa: E402

ENGINES = ("lean", "vllm", "trl")


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of lean,vllm,trl")
    ap.add_argument("--shape", default="1.5b", choices=["1.5b", "tiny"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bf16", choices=["bf16", "amp", "fp32"], help="lean engine only")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=512)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--step-every", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3, help="steps per engine; the first is a warm-up")
    ap.add_argument("--memory-fraction", type=float, default=0.3, help="vLLM's share of GPU memory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    bad = [e for e in args.engines.split(",") if e not in ENGINES]
    if bad:
        ap.error(f"--engines: {bad} not among {list(ENGINES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.worker:
        return {"lean": run_lean, "vllm": run_vllm, "trl": run_trl}[args.worker](args)
    passthrough = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("engines", "worker")]
    summaries = []
    for engine in args.engines.split(","):
        proc = subprocess.run([sys.executable, __file__, "--worker", engine, *passthrough],
                              capture_output=True, text=True)
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        summary = next((r for r in reversed(rows) if r.get("event") == "summary"), None)
        if proc.returncode != 0 or summary is None:
            emit({"event": "failed", "engine": engine, "returncode": proc.returncode,
                  "stderr_tail": proc.stderr[-2000:]})
            continue
        summary = {**summary, "engine": engine}
        emit(summary)
        summaries.append(summary)
    emit({"event": "side_by_side", "shape": args.shape, "prompts": args.prompts, "group": args.group,
          "new_tokens": args.new_tokens, **machine(),
          "engines": {s["engine"]: {k: s.get(k) for k in ("generate_tokens_per_s", "tokens_per_s", "step_s",
                                                           "peak_memory_gib", "gpu")} for s in summaries}})
    return 0 if len(summaries) == len(args.engines.split(",")) else 1


def run_lean(args) -> int:
    from benchmarks import gpu_step

    return gpu_step.main(["--shape", args.shape, "--device", args.device, "--precision", args.precision,
                          "--prompts", str(args.prompts), "--group", str(args.group),
                          "--new-tokens", str(args.new_tokens), "--prompt-tokens", str(args.prompt_tokens),
                          "--step-every", str(args.step_every), "--steps", str(args.steps), "--seed", str(args.seed)])


def write_model(args, out: Path) -> Path:
    """The random policy of the shape in bf16, with a one-token-per-id word-level tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from benchmarks.gpu_step import SHAPES, build_policy

    vocab = SHAPES[args.shape]["vocab_size"]
    policy = build_policy(args.shape, "cpu", torch.bfloat16, args.seed)
    policy.config.eos_token_id = vocab - 1
    policy.save_pretrained(str(out), safe_serialization=True)
    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t0", pad_token="t0", eos_token=f"t{vocab - 1}")
    fast.save_pretrained(str(out))
    return out


def _prompt_ids(args, vocab: int, rng: random.Random) -> list[list[int]]:
    return [[rng.randrange(1, vocab - 1) for _ in range(args.prompt_tokens)] for _ in range(args.prompts)]


class RandomPromptEngine:
    """vLLM rollouts for the benchmark (`hidden_from_update`: the update's forward gives the states):
    random prompt ids, exactly `--new-tokens` per completion, a step token every `--step-every`."""

    hidden_from_update = True

    def __init__(self, engine, sampling, args, vocab: int):
        self.engine, self.sampling, self.args, self.vocab = engine, sampling, args, vocab
        self.rng = random.Random(args.seed)
        self.sync_s: list[float] = []

    def sample(self, indices, group_size: int, seed: int):
        import torch

        from benchmarks.gpu_step import random_prompts, synthetic_candidate
        from components.training.step import Samples
        from components.training.vllm_rollouts import vllm_sampling_params

        prompts = random_prompts(self.rng, self.vocab, len(indices), self.args.prompt_tokens)
        params = vllm_sampling_params(self.engine.vllm, self.sampling, group_size, seed % (2**31), [self.vocab - 1],
                                      min_tokens=self.args.new_tokens)   # equal work for every engine
        outs = self.engine.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        cands = [synthetic_candidate(pi, list(o.token_ids),
                                     torch.tensor([o.logprobs[k][t].logprob for k, t in enumerate(o.token_ids)]),
                                     self.args.step_every)
                 for pi, out in enumerate(outs) for o in out.outputs]
        return Samples(cands, prompts)

    def after_update(self, model) -> None:
        import torch

        from components.training import parallel as par

        torch.cuda.synchronize()
        t0 = time.perf_counter()
        self.engine.sync(par.iter_full_parameters(model))
        torch.cuda.synchronize()
        self.sync_s.append(time.perf_counter() - t0)


def run_vllm(args) -> int:
    """The trainer's `train_step` with vLLM rollouts: sample, grade (random), update on the forward's states, sync."""
    import torch
    from transformers import AutoModelForCausalLM

    from benchmarks.gpu_step import bench_config, bench_trainer, run_steps
    from components.model.candidate import SamplingConfig
    from components.training.vllm_rollouts import VLLMRollouts

    cfg = bench_config(args)
    work = Path(tempfile.mkdtemp(prefix="gpu-engines-"))
    model_dir = write_model(args, work / "model")
    policy = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16).to(args.device)
    reference = (AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16).to(args.device)
                 if cfg.grpo.kl_coef > 0 else None)
    engine = VLLMRollouts(None, model_dir, args.memory_fraction, args.prompt_tokens + args.new_tokens,
                          args.seed, distributed=False)
    sampling = SamplingConfig(temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
                              max_new_tokens=args.new_tokens)
    rollout = RandomPromptEngine(engine, sampling, args, policy.config.vocab_size)
    tr = bench_trainer(cfg, args, policy, reference, rollout, args.seed)
    emit({"event": "setup", **machine(), "engine": "vllm", "shape": args.shape,
          "gpu": torch.cuda.get_device_name(), "policy_parameters": sum(p.numel() for p in policy.parameters())})
    rows = run_steps(tr, args, cuda=True)
    for row, sync_s in zip(rows, rollout.sync_s):
        row["time_sync_s"] = sync_s          # inside time_update_s (the trainer syncs within its update)
    return _summary("vllm", args, rows)


def run_trl(args) -> int:
    """TRL's GRPOTrainer, vLLM colocated, on the same model and batch shape; step times from its log."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    from components.config import load_section
    from components.training.config import TrainConfig

    cfg = load_section(TrainConfig, "train")
    work = Path(tempfile.mkdtemp(prefix="gpu-engines-"))
    model_dir = write_model(args, work / "model")
    tok = PreTrainedTokenizerFast.from_pretrained(str(model_dir))   # Auto* would pick Qwen2's class
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16)
    vocab = model.config.vocab_size
    rng = random.Random(args.seed)
    rows = [{"prompt": " ".join(f"t{i}" for i in p)}
            for _ in range(args.steps) for p in _prompt_ids(args, vocab, rng)]

    def random_reward(completions, **_):
        return [float(rng.random() < 0.5) for _ in completions]

    trl_cfg = GRPOConfig(
        output_dir=str(work / "trl"), max_steps=args.steps, per_device_train_batch_size=args.prompts * args.group,
        num_generations=args.group, max_completion_length=args.new_tokens, learning_rate=cfg.optim.policy_lr,
        beta=cfg.grpo.kl_coef, epsilon=cfg.grpo.clip, temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
        use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=args.memory_fraction,
        bf16=True, gradient_checkpointing=False, logging_steps=1, max_grad_norm=cfg.optim.grad_clip,
        report_to="none", save_strategy="no", seed=args.seed, shuffle_dataset=False, disable_tqdm=True,
        generation_kwargs={"min_tokens": args.new_tokens})
    trainer = GRPOTrainer(model=model, reward_funcs=random_reward, args=trl_cfg,
                          train_dataset=Dataset.from_list(rows), processing_class=tok)
    emit({"event": "setup", **machine(), "engine": "trl", "shape": args.shape, "gpu": torch.cuda.get_device_name()})
    torch.cuda.reset_peak_memory_stats()
    trainer.train()
    logs = [h for h in trainer.state.log_history if "step_time" in h]
    out = []
    for i, h in enumerate(logs):
        tokens = float(h.get("completions/mean_length", args.new_tokens)) * args.prompts * args.group
        out.append({"event": "step", "step": i + 1, "warmup": i == 0, "generated_tokens": tokens,
                    "step_s": h["step_time"], "tokens_per_s": tokens / h["step_time"],
                    "generate_tokens_per_s": None, "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30})
        emit(out[-1])
    return _summary("trl", args, out)


def _summary(engine: str, args, rows: list[dict]) -> int:
    import torch

    timed = [r for r in rows if not r["warmup"]] or rows

    def mean(key: str):
        vals = [r[key] for r in timed if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None
    emit({"event": "summary", "engine": engine, "shape": args.shape, "gpu": torch.cuda.get_device_name(),
          "prompts": args.prompts, "group": args.group, "new_tokens": args.new_tokens, "timed_steps": len(timed),
          **{k: mean(k) for k in ("step_s", "tokens_per_s", "generate_tokens_per_s", "time_generate_s",
                                  "time_update_s", "time_sync_s")},
          "peak_memory_gib": max(r["peak_memory_gib"] for r in rows)})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Our GRPO+SPR trainer against TRL's GRPOTrainer, side by side in one run.

Same tiny model (a copy of the bootstrapped policy for each), the same prompts at every step,
G = 8 completions per prompt, the same completion length, number of steps, learning rate, weight
decay, gradient clipping, temperature, clip and KL coefficient (0, TRL's default, so neither
builds a reference model), no entropy bonus (TRL has none), fp32, gradient checkpointing off.
Throughput is completions per second of training-step time (generation + scoring + update: our
`train_time/*` phase timers, TRL's own `step_time`), so model loading and trainer set-up count for
neither; figures including set-up are printed too. Ours additionally trains the SPRM head every
step (the method's extra work); TRL trains the policy only.

With `--repeats R` the sides alternate R times, and repeat r samples with seed `--seed` + r on
both sides: alternating evens out load changes, and the seeds give the reward comparison more
than one draw (a 20-step run's mean reward moves by a few hundredths with the seed). Prints JSON
lines; the last is the summary with `ours_completions_per_s` and `trl_completions_per_s`
(medians over repeats), `speedup`, and both sides' mean reward over the last half of the steps
(mean over repeats, and each repeat's).

    python benchmarks/grpo_vs_trl.py --model models/bootstrap --steps 20 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.report import emit, log_to_mlflow, machine  # noqa: E402


def _prompts(n: int, seed: int) -> list[dict]:
    from components.data.synthetic import generate

    return [{"problem": p.problem, "answer": p.answer} for p in generate(n, seed)]


def in_step_order(rows: list[dict], args, seed: int) -> list[dict]:
    """`rows` in the order our trainer draws them (`step_prompts`), for TRL's unshuffled sampler.

    TRL takes each step's prompts in dataset order; ours draws a seeded permutation. Reordering
    TRL's dataset gives both sides the same prompts at every step.
    """
    from components.training.rollouts import step_prompts

    return [rows[i] for s in range(args.steps) for i in step_prompts(len(rows), s, args.prompts, seed)]


def run_ours(model_dir: Path, rows: list[dict], args, work: Path, seed: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.config import build, read_params
    from components.training.config import TrainConfig
    from components.training.trainer import run_train

    data = work / "prompts.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data)
    params = read_params(Path(__file__).resolve().parents[1] / "params.yaml")
    cfg = build(TrainConfig, params.get("train"), "train")
    cfg = replace(cfg, steps=args.steps, seed=seed,
                  rollout=replace(cfg.rollout, prompts_per_step=args.prompts, group_size=args.g,
                                  max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=1.0),
                  optim=replace(cfg.optim, policy_lr=args.lr, warmup_steps=0, weight_decay=args.weight_decay,
                                grad_clip=1.0),
                  grpo=replace(cfg.grpo, kl_coef=0.0, clip=0.2, entropy_coef=0.0),
                  checkpoint=replace(cfg.checkpoint, every_steps=0))
    t0 = time.perf_counter()
    result = run_train(cfg, model_dir, data, work / "out", tracking_uri=None, resume=False, log=lambda *_: None)
    wall = time.perf_counter() - t0
    rewards = [h["train/reward_mean"] for h in result.history]
    step_s = sum(h["train_time/generate"] + h["train_time/score"] + h["train_time/update"] for h in result.history)
    return {"side": "ours", "wall_s": wall, "steps_s": step_s, "completions": args.steps * args.prompts * args.g,
            "completions_per_s": args.steps * args.prompts * args.g / step_s,
            "completions_per_s_incl_setup": args.steps * args.prompts * args.g / wall,
            "reward_last_half": statistics.fmean(rewards[len(rewards) // 2:]),
            "reward_first": rewards[0], "time_generate_s": sum(h["train_time/generate"] for h in result.history),
            "time_update_s": sum(h["train_time/update"] for h in result.history)}


def run_trl(model_dir: Path, rows: list[dict], args, work: Path, seed: int) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from components.rewards.grading import reward

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))

    def outcome_reward(completions, completion_ids, answer, **_):
        # TRL decodes without special tokens; `</think>` is one, so decode the ids ourselves.
        texts = tok.batch_decode(completion_ids, skip_special_tokens=False)
        return [reward(t.replace(tok.eos_token, ""), a) for t, a in zip(texts, answer)]

    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r["problem"]}], "answer": r["answer"]}
                            for r in rows])
    cfg = GRPOConfig(
        output_dir=str(work / "trl"), max_steps=args.steps, per_device_train_batch_size=args.prompts * args.g,
        num_generations=args.g, max_completion_length=args.max_new_tokens, learning_rate=args.lr,
        lr_scheduler_type="constant", warmup_steps=0, beta=0.0, epsilon=0.2, temperature=1.0, top_p=1.0,
        gradient_checkpointing=False, use_cpu=True, bf16=False, fp16=False, logging_steps=1,
        weight_decay=args.weight_decay, max_grad_norm=1.0,
        report_to="none", save_strategy="no", seed=seed, shuffle_dataset=False,
        disable_tqdm=True, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=model, reward_funcs=outcome_reward, args=cfg, train_dataset=ds,
                          processing_class=tok)
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    step_s = sum(h["step_time"] for h in trainer.state.log_history if "step_time" in h)
    return {"side": "trl", "wall_s": wall, "steps_s": step_s, "completions": args.steps * args.prompts * args.g,
            "completions_per_s": args.steps * args.prompts * args.g / step_s,
            "completions_per_s_incl_setup": args.steps * args.prompts * args.g / wall,
            "reward_last_half": statistics.fmean(rewards[len(rewards) // 2:]) if rewards else float("nan"),
            "reward_first": rewards[0] if rewards else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/bootstrap"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--prompts", type=int, default=4, help="prompts per step")
    ap.add_argument("--g", type=int, default=8, help="completions per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay, both sides")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed of the first repeat (repeat r: seed + r)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="alternating runs per side, each with the next seed (median throughput, mean reward)")
    ap.add_argument("--tracking-uri", default=None)
    args = ap.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    rows = _prompts(args.steps * args.prompts, args.seed + 17)
    results: dict[str, list[dict]] = {"ours": [], "trl": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for side, fn in (("ours", run_ours), ("trl", run_trl)):
                work = Path(tmp) / f"{side}-{r}"
                model_copy = work / "model"
                shutil.copytree(args.model, model_copy, ignore=shutil.ignore_patterns("sprm_head.safetensors"))
                out = fn(model_copy, rows if side == "ours" else in_step_order(rows, args, args.seed + r), args,
                         work, args.seed + r)
                results[side].append(out)
                emit({"repeat": r, **out})

    def med(side: str, key: str) -> float:
        return statistics.median(o[key] for o in results[side])

    def mean(side: str, key: str) -> float:
        return statistics.fmean(o[key] for o in results[side])

    summary = {"benchmark": "grpo_vs_trl", "steps": args.steps, "prompts_per_step": args.prompts,
               "group_size": args.g, "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
               "ours_completions_per_s": med("ours", "completions_per_s"),
               "trl_completions_per_s": med("trl", "completions_per_s"),
               "ours_reward_last_half": mean("ours", "reward_last_half"),
               "trl_reward_last_half": mean("trl", "reward_last_half"),
               "ours_reward_last_half_per_repeat": [o["reward_last_half"] for o in results["ours"]],
               "trl_reward_last_half_per_repeat": [o["reward_last_half"] for o in results["trl"]],
               **machine()}
    summary["speedup"] = summary["ours_completions_per_s"] / summary["trl_completions_per_s"]
    log_to_mlflow("grpo_vs_trl", summary, args.tracking_uri)
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

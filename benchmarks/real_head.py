"""The paper's SPRM head on a pretrained model's own representations, backbone frozen.

The policy (e.g. SmolLM2-135M-Instruct from `reflect import-model`) samples N candidates per
problem of the synthetic task, once, with the step features captured while sampling (the
second-to-last hidden state before each step token, and the step's min/mean token log-prob).
With the backbone frozen (head-only training: backbone gradient scale 0), training the head on
those captured features is exactly head-only SPR training, so each head trains on the TRAINING
split's features: `--warmup-epochs` of class-balanced BCE, then SPR (eq. 6) epochs. Two heads:
`hidden` (the paper's) and `hidden+logprob`. On the HELD-OUT split (problems hashed apart from
training) it reports, with bootstrap 95% CIs over problems: pooled AUROC (trajectory score vs
correctness over all candidates), within-problem AUROC (mean over problems with both outcomes),
and best-of-N at each `--ns` for the SPRM against confidence (mean token log-prob), majority vote,
pass@1 and the oracle. It then writes the `hidden` head in the reference's `score_module.pt` layout,
loads it back through the model directory's `.pt` fallback and checks it scores the same.
JSON lines on stdout. Not a CI test (tests/benchmarks/ runs a tiny smoke version):

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.real_head \\
        --model models/smollm2-135m-instruct --kind sum --max-operand 9 --heldout-share 0.3 \\
        --train-problems 40 --test-problems 24 --n 16 --max-new-tokens 32 --temperature 0.8
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from components.data.synthetic import TaskConfig, generate
from components.evaluation.metrics import bootstrap_ci, method_accuracies, pooled_auroc
from components.tracking.stats import auroc
from components.model.candidate import SamplingConfig
from components.inference.selection import ProblemSamples, logprob_best, majority_vote, oracle, sprm_best
from components.model.reflective import ReflectiveModel
from components.model.sprm_head import REFERENCE_HEAD_FILE, SPRMHead
from components.model.steps import aggregate_scores
from components.rewards.grading import answers_equal, final_answer
from components.training.spr_loss import spr_loss

SELECTORS = {"sprm_best": sprm_best, "confidence": logprob_best, "majority": majority_vote, "oracle": oracle}


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def sample(rm: ReflectiveModel, problems, n: int, sampling: SamplingConfig, seed: int) -> list[dict]:
    """Candidates of each problem with correctness, features and their step counts."""
    out = []
    for p, cands in zip(problems, rm.generate([p.problem for p in problems], n, sampling, seed=seed, score=False)):
        answers = [final_answer(c.text, c.think) for c in cands]
        out.append({"answers": answers,
                    "correct": [a is not None and answers_equal(a, p.answer) for a in answers],
                    "hidden": [c.step_hidden.float() for c in cands],
                    "logprob": [c.step_logprob.float() for c in cands],
                    "mean_logprob": [c.mean_logprob for c in cands]})
    return out


def flat_steps(data: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    hid = [h for d in data for h in d["hidden"]]
    lp = [x for d in data for x in d["logprob"]]
    y = [torch.full((h.shape[0],), float(c)) for d in data for h, c in zip(d["hidden"], d["correct"])]
    return torch.cat(hid), torch.cat(lp), torch.cat(y)


def train_head(features: str, data: list[dict], hidden_size: int, args) -> SPRMHead:
    torch.manual_seed(args.seed)
    head = SPRMHead(hidden_size, features)
    hid, lp, y = flat_steps(data)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=0.01)
    head.train()
    for epoch in range(args.warmup_epochs + args.spr_epochs):
        kind = "balanced_bce" if epoch < args.warmup_epochs else "spr"
        for idx in torch.randperm(len(y)).split(args.batch):
            out = spr_loss(head(hid[idx], lp[idx]), y[idx], kind)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    return head.eval()


@torch.no_grad()
def score(head: SPRMHead, data: list[dict]) -> list[ProblemSamples]:
    problems = []
    for d in data:
        scores = [aggregate_scores(torch.sigmoid(head(h, lp)) if h.shape[0] else [])
                  for h, lp in zip(d["hidden"], d["logprob"])]
        problems.append(ProblemSamples(tuple(d["answers"]), tuple(d["correct"]), tuple(scores),
                                       tuple(d["mean_logprob"])))
    return problems


def within_auroc(problems: list[ProblemSamples]) -> tuple[float, int]:
    vals = [auroc(p.scores, p.correct) for p in problems if 0 < sum(p.correct) < len(p)]
    return (float(np.mean(vals)) if vals else math.nan), len(vals)


def boot_auroc(problems: list[ProblemSamples], args) -> tuple[float, float]:
    rng = np.random.default_rng(args.seed)
    vals = []
    for _ in range(args.bootstrap):
        pick = [problems[i] for i in rng.integers(0, len(problems), len(problems))]
        v = pooled_auroc(pick)
        if not math.isnan(v):
            vals.append(v)
    return (float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))) if vals else (math.nan, math.nan)


def report(features: str, head: SPRMHead, test: list[dict], args) -> None:
    problems = score(head, test)
    ns = [n for n in args.ns if n <= args.n]
    acc = method_accuracies(problems, ns, SELECTORS, draws=args.draws, seed=args.seed)
    cis = {f"{m}@{n}": bootstrap_ci(v, args.bootstrap, args.seed)
           for (m, n), v in acc.items()}
    within, n_mixed = within_auroc(problems)
    lo, hi = boot_auroc(problems, args)
    emit(event="head", features=features, pooled_auroc=pooled_auroc(problems), pooled_auroc_ci=[lo, hi],
         within_auroc=within, problems_mixed=n_mixed,
         steps_per_candidate=float(np.mean([h.shape[0] for d in test for h in d["hidden"]])),
         **{k: [round(e.value, 4), round(e.low, 4), round(e.high, 4)] for k, e in cis.items()})


def reference_roundtrip(rm: ReflectiveModel, model_dir: Path, head: SPRMHead, test: list[dict]) -> float:
    """Save `head` as a reference `score_module.pt` in a copy of the dir, load it back, compare."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "model"
        shutil.copytree(model_dir, d, ignore=shutil.ignore_patterns("sprm_head.safetensors"))
        torch.save({k: v.clone() for k, v in head.state_dict().items()}, d / REFERENCE_HEAD_FILE)
        loaded = SPRMHead.load(d / REFERENCE_HEAD_FILE, rm.model.config.get_text_config().hidden_size).eval()
    hid, lp, _ = flat_steps(test)
    with torch.no_grad():
        return float((torch.sigmoid(loaded(hid, lp)) - torch.sigmoid(head(hid, lp))).abs().max()) if len(hid) else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--kind", default="sum", choices=("sum", "chain"))
    ap.add_argument("--max-operand", type=int, default=9)
    ap.add_argument("--heldout-share", type=float, default=0.3)
    ap.add_argument("--train-problems", type=int, default=40)
    ap.add_argument("--test-problems", type=int, default=24)
    ap.add_argument("--n", type=int, default=16, help="candidates per problem (the largest N)")
    ap.add_argument("--ns", type=lambda s: [int(x) for x in s.split(",")], default=[2, 8, 16])
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--warmup-epochs", type=int, default=20)
    ap.add_argument("--spr-epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    task = TaskConfig(max_operand=args.max_operand, heldout_share=args.heldout_share, kind=args.kind)
    train_p = list(generate(args.train_problems, args.seed, task, "train"))
    test_p = list(generate(args.test_problems, args.seed + 1, task, "heldout"))
    rm = ReflectiveModel.load(args.model)
    sampling = SamplingConfig(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    train = sample(rm, train_p, args.n, sampling, args.seed)
    test = sample(rm, test_p, args.n, sampling, args.seed + 1)
    t_sample = time.perf_counter() - t0
    emit(event="samples", model=str(args.model), train_problems=len(train), test_problems=len(test), n=args.n,
         train_pass1=float(np.mean([np.mean(d["correct"]) for d in train])),
         test_pass1=float(np.mean([np.mean(d["correct"]) for d in test])),
         train_steps=int(flat_steps(train)[2].numel()), train_step_pos_share=float(flat_steps(train)[2].mean())
         if flat_steps(train)[2].numel() else math.nan, seconds=round(t_sample, 1))
    hidden_size = rm.model.config.get_text_config().hidden_size
    heads = {}
    for features in ("hidden", "hidden+logprob"):
        heads[features] = train_head(features, train, hidden_size, args)
        report(features, heads[features], test, args)
    emit(event="reference_pt", max_abs_score_diff=reference_roundtrip(rm, args.model, heads["hidden"], test))
    emit(event="summary", seconds=round(time.perf_counter() - t0, 1), sample_seconds=round(t_sample, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

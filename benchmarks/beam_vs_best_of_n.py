"""SPRM-guided step-level beam search against best-of-N, at equal generated tokens.

On the validation split (`synthetic_val`, never the held-out set), for a trained model directory:
best-of-N at each N (sprm_best, sprm_vote, majority, confidence; N candidates sampled once at the
largest N, the first N used) and beam search at each WIDTHxEXPAND (components/inference/beam.py).
Each method's points are (mean generated tokens per problem, accuracy); the plot is accuracy
against log tokens with a fitted line per method (docs/method.md section 4). JSON lines on stdout,
one per point, then a summary.

    python benchmarks/beam_vs_best_of_n.py --model work/models/train/<key>/model --n-problems 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from benchmarks.report import emit, machine  # noqa: E402

SELECTORS = ("sprm_best", "sprm_vote", "majority", "logprob_best")


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True, help="a trained model dir (policy + SPRM head)")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="task and evaluate sections")
    ap.add_argument("--n-problems", type=int, default=200, help="validation problems (default: %(default)s)")
    ap.add_argument("--ns", default="2,4,8,16,32", help="best-of-N sizes (default: %(default)s)")
    ap.add_argument("--beams", default="1x2,2x2,2x4,4x4", help="WIDTHxEXPAND list (default: %(default)s)")
    ap.add_argument("--max-step-tokens", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", type=Path, help="write the accuracy-vs-tokens plot here (PNG)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    import torch

    from components.data.eval_sets import load_eval_set
    from components.evaluation.plots import log_linear_fit, plot_accuracy_vs_tokens
    from components.inference.beam import BeamConfig, beam_search
    from components.inference.selection import choose
    from components.model.reflective import ReflectiveModel
    from components.pipeline_params import load_pipeline_params
    from components.rewards.grading import final_answer, is_correct

    p = load_pipeline_params(args.params)
    es = load_eval_set("synthetic_val", n_problems=args.n_problems, seed=p.evaluate.problem_seed, task=p.task)
    rm = ReflectiveModel.load(args.model)
    sampling = p.evaluate.sampling
    prompts = [rm.encode_prompt(q.prompt) for q in es.problems]
    refs = [q.answer for q in es.problems]
    ns = sorted(int(n) for n in args.ns.split(","))
    curves: dict[str, list[tuple[float, float]]] = {}
    emit({"event": "start", "model": str(args.model), "problems": len(es), **machine()})

    t0 = time.perf_counter()
    groups = rm.generate(prompts, ns[-1], sampling, seed=args.seed)
    sample_s = time.perf_counter() - t0
    for n in ns:
        tokens = sum(c.n_tokens for g in groups for c in g[:n]) / len(groups)
        for sel in SELECTORS:
            right = 0
            for g, ref in zip(groups, refs):
                cands = g[:n]
                i = choose(sel, [final_answer(c.text, c.think) for c in cands], [c.score for c in cands],
                           [c.mean_logprob for c in cands])
                right += is_correct(cands[i].text, ref, cands[i].think)
            acc = right / len(groups)
            curves.setdefault(sel, []).append((tokens, acc))
            emit({"event": "point", "method": sel, "n": n, "tokens": round(tokens, 1), "accuracy": acc})
    for spec in args.beams.split(","):
        width, expand = (int(x) for x in spec.lower().split("x"))
        cfg = BeamConfig(width=width, expand=expand, max_step_tokens=args.max_step_tokens)
        torch.manual_seed(args.seed)
        t0 = time.perf_counter()
        results = beam_search(rm, prompts, cfg, sampling, seed=args.seed)
        seconds = time.perf_counter() - t0
        tokens = sum(r.tokens for r in results) / len(results)
        acc = sum(is_correct(r.best.text, ref, r.best.think) for r, ref in zip(results, refs)) / len(results)
        curves.setdefault("beam", []).append((tokens, acc))
        emit({"event": "point", "method": "beam", "beam": cfg.label, "tokens": round(tokens, 1), "accuracy": acc,
              "seconds": round(seconds, 1)})
    fits = {m: log_linear_fit(pts) for m, pts in curves.items()}
    if args.plot:
        plot_accuracy_vs_tokens(curves, args.plot, title=f"{es.name}: accuracy vs generated tokens")
    emit({"event": "summary", "problems": len(es), "best_of_n_sample_s": round(sample_s, 1),
          "fits": {m: {"intercept": f[0], "per_10x_tokens": f[1]} for m, f in fits.items() if f}})
    return 0


if __name__ == "__main__":
    sys.exit(main())

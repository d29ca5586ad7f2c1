"""Cost of SPRM scoring: captured during generation vs a second forward pass.

Times, on the same problems and seeds, side by side and alternating (so load changes hit all
variants alike): plain sampling of N candidates (no capture), sampling with capture + head
scoring (our path), and plain sampling followed by a second-pass scorer (the reference's path).
Prints JSON lines; the last is the summary with `overhead` (extra time of captured scoring /
plain generation time) and `second_pass_overhead` (second-pass time / plain generation time),
each the median over rounds of the per-round ratio. Ratios of process CPU time (`cpu_*`) are
printed beside the wall-clock ones: on a shared 2-core machine they are far less disturbed by
other processes.

    python benchmarks/scoring_overhead.py --model models/bootstrap
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from benchmarks.report import emit, log_to_mlflow, machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/bootstrap"))
    ap.add_argument("--problems", type=int, default=32, help="problems per round")
    ap.add_argument("--n", type=int, default=8, help="candidates per problem (medium effort = 8)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (median reported)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--tracking-uri", default=None, help="also log the summary to this MLflow store")
    args = ap.parse_args(argv)

    import torch

    from components.data.synthetic import generate
    from components.model.reflective import ReflectiveModel

    rm = ReflectiveModel.load(args.model, device=args.device, dtype=getattr(torch, args.dtype))
    sampling = rm.default_sampling()
    problems = [p.problem for p in generate(args.problems, 123, split="heldout")]
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def timed(fn):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        sync()
        return (time.perf_counter() - t0, time.process_time() - c0), out

    rm.generate(problems[:2], 2, sampling, seed=0)  # warm-up
    plain, captured, second = [], [], []
    tokens = 0
    for r in range(args.rounds):
        t_plain, cands = timed(lambda: rm.generate(problems, args.n, sampling, seed=r, score=False, capture=False))
        t_cap, _ = timed(lambda: rm.generate(problems, args.n, sampling, seed=r, score=True, capture=True))
        flat = [c for cs in cands for c in cs]
        t_second, _ = timed(lambda: rm.score_second_pass([problems[c.prompt_index] for c in flat],
                                                         [c.token_ids for c in flat]))
        tokens = sum(c.n_tokens for c in flat)
        plain.append(t_plain)
        captured.append(t_cap)
        second.append(t_second)
        emit({"round": r, "plain_s": t_plain[0], "captured_s": t_cap[0], "second_pass_s": t_second[0],
              "plain_cpu_s": t_plain[1], "captured_cpu_s": t_cap[1], "second_pass_cpu_s": t_second[1],
              "tokens": tokens})

    def median_ratio(num, den, k, minus_one=False):
        return statistics.median(n[k] / d[k] - (1.0 if minus_one else 0.0) for n, d in zip(num, den))

    summary = {
        "benchmark": "scoring_overhead", "model": str(args.model), "device": args.device, "dtype": args.dtype,
        "problems": args.problems, "n": args.n, "rounds": args.rounds, "tokens_per_round": tokens,
        "generate_s": statistics.median(t[0] for t in plain),
        "generate_captured_s": statistics.median(t[0] for t in captured),
        "second_pass_s": statistics.median(t[0] for t in second),
        "tokens_per_s": tokens / statistics.median(t[0] for t in plain),
        "overhead": median_ratio(captured, plain, 0, minus_one=True),
        "second_pass_overhead": median_ratio(second, plain, 0),
        "cpu_overhead": median_ratio(captured, plain, 1, minus_one=True),
        "cpu_second_pass_overhead": median_ratio(second, plain, 1),
        **machine(),
    }
    log_to_mlflow("scoring_overhead", summary, args.tracking_uri)
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

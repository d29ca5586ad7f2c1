"""GPU check of `train.rollout.backend: vllm`: after a weight sync the engine samples from the policy.

On a CUDA machine with vLLM (the `gpu` extra): a tiny policy is bootstrapped (seconds), a colocated
engine is started on it (`VLLMRollouts`), then the policy's weights are changed (Gaussian noise of
`--noise` times each tensor's std, standing in for an optimizer step). Three samples are drawn:

- `stale`: from the engine before the sync; the mean log-prob vLLM reports for its own samples
  differs from the policy's mean log-prob of the same completions (the check can fail);
- `synced`: from the engine after `sync`; both mean log-probs must agree within `--tol` nats per
  token (bf16 engine vs fp32 policy);
- `policy`: from the policy itself (the captured HF path); the mean log-prob under the policy of
  its own samples and of the synced engine's must agree within three standard errors + `--tol`
  (same distribution).

Prints JSON lines and exits 0 when every check holds, 1 otherwise, 2 without a GPU or vLLM.

    python benchmarks/gpu_vllm_check.py
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from benchmarks.report import emit, machine  # noqa: E402


def _policy_logprobs(rm, problems, cands) -> list[float]:
    """Mean per-token log-prob (temperature 1) of each candidate under the policy `rm.model`."""
    from components.model.sampling import forward_features

    prompts = [rm.encode_prompt(problems[c.prompt_index]) for c in cands]
    _, lp = forward_features(rm.model, prompts, [c.token_ids for c in cands], rm.tokenizer.pad_token_id)
    return [float(lp[i, :c.n_tokens].mean()) for i, c in enumerate(cands) if c.n_tokens]


def _stats(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / max(len(xs) - 1, 1)
    return m, math.sqrt(var / len(xs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="policy directory (default: bootstrap a tiny one)")
    ap.add_argument("--problems", type=int, default=32)
    ap.add_argument("--n", type=int, default=8, help="samples per problem")
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--noise", type=float, default=0.2, help="weight change, in units of each tensor's std")
    ap.add_argument("--tol", type=float, default=0.05, help="nats per token")
    ap.add_argument("--memory-fraction", type=float, default=0.3)
    args = ap.parse_args(argv)

    from components.inference.vllm_backend import BackendUnavailable
    from components.training.vllm_rollouts import VLLMRollouts, context_needed, require_vllm

    try:
        require_vllm()
    except BackendUnavailable as exc:
        print(f"gpu_vllm_check: {exc}", file=sys.stderr)
        return 2
    import torch

    from components.data.synthetic import TaskConfig, generate
    from components.model.candidate import SamplingConfig
    from components.model.reflective import ReflectiveModel
    from components.training import parallel as par

    model_dir = args.model
    if model_dir is None:
        from components.training.bootstrap import BootstrapConfig, TinyModelConfig, run_bootstrap

        model_dir = Path(tempfile.mkdtemp(prefix="vllm-check-")) / "policy"
        run_bootstrap(model_dir, BootstrapConfig(
            n_train=2000, steps=150, batch_size=32, lr=3e-3, warmup_steps=10, eval_problems=16, eval_samples=2,
            max_new_tokens=48, model=TinyModelConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                     num_attention_heads=2, num_key_value_heads=1)),
            log=lambda *_: None)
    rm = ReflectiveModel.load(model_dir, device="cuda")
    problems = [row.problem for row in generate(args.problems, 123, TaskConfig())]
    sampling = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=args.new_tokens)
    engine = VLLMRollouts(rm, model_dir, args.memory_fraction,
                          context_needed(rm, problems, args.new_tokens), seed=0, distributed=False)
    emit({"event": "setup", **machine(), "gpu": torch.cuda.get_device_name(), "model": str(model_dir)})
    with torch.no_grad():                                   # the "update": the engine does not know it yet
        gen = torch.Generator(device="cuda").manual_seed(0)
        for p in rm.model.parameters():
            if p.numel() > 1:
                p.add_(torch.randn(p.shape, generator=gen, device=p.device) * args.noise * p.float().std())

    def engine_gap(label: str, seed: int) -> tuple[float, list[float]]:
        cands = [c for g in engine.generate(problems, args.n, sampling, seed=seed) for c in g if c.n_tokens]
        under_policy = _policy_logprobs(rm, problems, cands)
        gap = sum(abs(c.mean_logprob - q) for c, q in zip(cands, under_policy)) / len(cands)
        emit({"event": label, "completions": len(cands), "mean_abs_logprob_gap": gap,
              "engine_mean_logprob": sum(c.mean_logprob for c in cands) / len(cands),
              "policy_mean_logprob": sum(under_policy) / len(under_policy)})
        return gap, under_policy

    stale_gap, _ = engine_gap("stale", 1)
    loaded = engine.sync(par.iter_full_parameters(rm.model))
    synced_gap, synced_lp = engine_gap("synced", 2)
    own = [c for g in rm.generate(problems, args.n, sampling, seed=3, score=False) for c in g if c.n_tokens]
    own_lp = _policy_logprobs(rm, problems, own)
    (m_own, se_own), (m_vllm, se_vllm) = _stats(own_lp), _stats(synced_lp)
    dist_gap = abs(m_own - m_vllm)
    dist_bound = 3 * math.hypot(se_own, se_vllm) + args.tol
    checks = {"synced_matches_policy": synced_gap < args.tol,
              "stale_detected": stale_gap > 2 * max(synced_gap, 1e-6) and stale_gap > args.tol,
              "same_distribution": dist_gap < dist_bound}
    emit({"event": "summary", "gpu": torch.cuda.get_device_name(), "tensors_loaded": loaded,
          "stale_gap": stale_gap, "synced_gap": synced_gap, "policy_samples_mean_logprob": m_own,
          "vllm_samples_mean_logprob": m_vllm, "distribution_gap": dist_gap, "distribution_bound": dist_bound,
          **checks, "ok": all(checks.values())})
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""`reflect evaluate`: sample once at the largest N, then score every method from those samples.

For each eval set (docs/method.md sections 4 and 6): generate `max_n` candidates per problem
with the reflective model (hidden states captured while sampling), grade each with `is_correct`,
score the captured step features with every SPRM head (the model's own and any `extra_heads`,
e.g. the BCE-trained head or a hidden-only head) under every aggregation (geometric, min, last),
and estimate pass@1, majority, sprm_best, sprm_vote, logprob_best and oracle at each N from the
same candidates (estimators in `components.evaluation.metrics`). With a trained head and one-token
step markers, `beam` is measured too: SPRM-guided step-level beam search at each reported effort
(`components.inference.beam.beam_for`: 1x2 / 2x4 / 4x8), sampled on its own, with its generated
tokens, so the tokens plot compares it with best-of-N at equal compute. A model directory without a
trained head still gets the head-free methods; the report says the SPRM methods were skipped.
Writes metrics.json, details.json, report.md and plots to `out_dir`; logs them to MLflow when a
run is active or `tracking_uri` is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from components.atomic import check_own_dir, staged_dir
from components.config import ConfigError, as_flat_dict
from components.console import bars_disabled, say
from components.data.synthetic import TaskConfig
from components.evaluation.config import EvaluateConfig
from components.evaluation.set_plots import set_plots
from components.data.eval_sets import SYNTHETIC_SETS, EvalSet, load_eval_set
from components.evaluation.metrics import (bootstrap_ci, bucket_means, method_accuracies,
                                           mean_tokens, pooled_auroc, problem_aurocs)
from components.evaluation.report import (DETAILS_FILE, METRICS_FILE, MODEL_DIGEST, REPORT_FILE, SetReport,
                                         VariantResult, bucket_metrics, flat_metrics, log_to_mlflow, write_reports)
from components.model.candidate import Candidate, SamplingConfig, stack_step_features
from components.inference.selection import SELECTORS, SPRM_METHODS, ProblemSamples, answer_key
from components.evaluation.beams import BeamOutcome, run_beams
from components.inference.beam import supports_beam
from components.model.steps import aggregate_scores
from components.model.threads import describe as decode_threads_setting
from components.tracking.lineage import dir_digest
from components.rewards.grading import answers_equal, final_answer

DEFAULT_HEAD = "default"
OUTPUTS = (METRICS_FILE, DETAILS_FILE, REPORT_FILE, "plots")   # what the stage owns in --out


class CandidateSampler(Protocol):
    """A generation backend: N candidates per problem with step features (hidden, log-probs)."""

    def generate(self, problems: Sequence[str], n: int, sampling: SamplingConfig, seed: int,
                 batch_size: int, progress: Callable[[int], object] | None = None) -> list[list[Candidate]]: ...


@dataclass
class EvalResult:
    """What an evaluation produced: per-set reports, flat metrics, file paths, timings, run id."""

    reports: list[SetReport]
    metrics: dict[str, float]
    paths: dict[str, Path]
    timings: dict[str, float]
    run_id: str | None = None


def load_heads(rm, extra_heads: Mapping[str, Path] | None) -> dict[str, torch.nn.Module]:
    """The model's own head (when trained) and every extra head, by name, in eval mode."""
    from components.model.sprm_head import SPRMHead

    heads: dict[str, torch.nn.Module] = {}
    if rm.head_trained:
        heads[DEFAULT_HEAD] = rm.head.eval()
    hidden = rm.model.config.get_text_config().hidden_size
    for name, path in (extra_heads or {}).items():
        if name == DEFAULT_HEAD:
            raise ConfigError(f"extra head name {DEFAULT_HEAD!r} is reserved for the model's own head")
        heads[name] = SPRMHead.load(Path(path), hidden).eval()
    return heads


def parse_heads(specs: Sequence[str]) -> dict[str, Path]:
    """`["bce=models/train/bce/sprm_head.safetensors", ...]` (CLI `--head NAME=PATH`) -> {name: path}."""
    heads: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--head expects NAME=PATH (e.g. bce=models/train/bce/sprm_head.safetensors), got {spec!r}")
        if not Path(path.strip()).is_file():
            raise ConfigError(f"--head {name.strip()}: {path.strip()} is not a file (an sprm_head.safetensors)")
        heads[name.strip()] = Path(path.strip())
    return heads


@torch.no_grad()
def head_step_scores(head: torch.nn.Module, candidates: Sequence[Candidate]) -> list[list[float]]:
    """Step scores in (0, 1) of every candidate under `head` (one batched call on captured features)."""
    if not candidates:
        return []
    hidden, logprob = stack_step_features(candidates)                # [S, h], [S, k]
    flat = torch.sigmoid(head(hidden, logprob)).tolist() if hidden.shape[0] else []
    out, offset = [], 0
    for c in candidates:
        out.append(flat[offset: offset + c.n_steps])
        offset += c.n_steps
    return out


def grade(candidates: Sequence[Candidate], reference: str) -> tuple[list[str | None], list[bool]]:
    """Final answers and correctness; math-verify runs once per distinct answer of a problem."""
    answers = [final_answer(c.text, c.think) for c in candidates]
    verdicts: dict[str | None, bool] = {}
    correct = []
    for a in answers:
        key = answer_key(a)
        if key not in verdicts:
            verdicts[key] = a is not None and answers_equal(a, reference)
        correct.append(verdicts[key])
    return answers, correct


def _estimates(problems: Sequence[ProblemSamples], cfg: EvaluateConfig, selectors) -> dict:
    acc = method_accuracies(problems, cfg.ns, selectors, cfg.subset_draws, cfg.seed)
    return {key: bootstrap_ci(v, cfg.bootstrap_resamples, cfg.seed, cfg.ci_level) for key, v in acc.items()}, acc


def evaluate_set(eval_set: EvalSet, candidates: list[list[Candidate]], heads: Mapping[str, torch.nn.Module],
                 cfg: EvaluateConfig, plot_dir: Path,
                 beams: Mapping[int, BeamOutcome] | None = None) -> tuple[SetReport, list[Path], dict[str, float]]:
    """Grade, score and estimate every method on one set's samples (and the beam searches'
    outcomes, when given); write its plots."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    graded = [grade(cs, p.answer) for p, cs in zip(eval_set.problems, candidates)]
    timings["grade"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    flat = [c for cs in candidates for c in cs]
    step_scores = {name: head_step_scores(head, flat) for name, head in heads.items()}
    sizes = [len(cs) for cs in candidates]
    bounds = np.cumsum([0, *sizes])

    def trajectory(name: str, how: str) -> list[list[float]]:
        per = [aggregate_scores(s, how) for s in step_scores[name]]  # type: ignore[arg-type]
        return [per[bounds[i]:bounds[i + 1]] for i in range(len(sizes))]

    base = [ProblemSamples(tuple(a), tuple(ok), (0.0,) * len(cs), tuple(c.mean_logprob for c in cs),
                           tuple(c.n_tokens for c in cs))
            for (a, ok), cs in zip(graded, candidates)]
    has_head = DEFAULT_HEAD in heads
    default = ([p.with_scores(s) for p, s in zip(base, trajectory(DEFAULT_HEAD, "geometric"))]
               if has_head else base)
    timings["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    selectors = {k: v for k, v in SELECTORS.items() if has_head or k not in SPRM_METHODS}
    estimates, acc = _estimates(default, cfg, selectors)
    for n, b in (beams or {}).items():
        acc[("beam", n)] = np.asarray(b.correct)
        estimates[("beam", n)] = bootstrap_ci(b.correct, cfg.bootstrap_resamples, cfg.seed, cfg.ci_level)
    buckets_of = [p.bucket for p in eval_set.problems]
    buckets: dict[str, dict[tuple[str, int], tuple[float, int]]] = {}
    for key, values in acc.items():
        for b, (mean, count) in bucket_means(values, buckets_of).items():
            buckets.setdefault(b, {})[key] = (mean, count)
    ablations: dict[str, VariantResult] = {}
    score_groups: dict[str, tuple[list[float], list[bool], float]] = {}
    sprm_only = {k: SELECTORS[k] for k in SPRM_METHODS}
    for name in heads:
        for how in cfg.aggregations:
            samples = [p.with_scores(s) for p, s in zip(base, trajectory(name, how))]
            auc = pooled_auroc(samples)
            within = float(np.mean(w)) if (w := problem_aurocs(samples)).size else float("nan")
            if how == "geometric":
                score_groups[f"head {name}"] = ([x for p in samples for x in p.scores],
                                                [x for p in samples for x in p.correct], auc)
            if name == DEFAULT_HEAD and how == "geometric":
                continue  # the headline itself
            ests, _ = _estimates(samples, cfg, sprm_only)
            ablations[f"{name}-{how}"] = VariantResult(
                {k: v for k, v in ests.items() if k[0] in SPRM_METHODS}, auc, within)
    logprob_auc = pooled_auroc([p.with_scores(p.mean_logprobs) for p in base])

    def within(samples: list[ProblemSamples], field: str):
        return bootstrap_ci(problem_aurocs(samples, field), cfg.bootstrap_resamples, cfg.seed, cfg.ci_level)
    timings["metrics"] = time.perf_counter() - t0

    n_samples = sizes[0] if sizes else 0
    report = SetReport(
        name=eval_set.name, n_problems=len(eval_set), n_excluded=len(eval_set.excluded),
        n_samples=n_samples, estimates=estimates, auroc=pooled_auroc(default) if has_head else None,
        buckets=buckets, ablations=ablations, mean_tokens=mean_tokens(base), logprob_auroc=logprob_auc,
        auroc_within=within(default, "scores") if has_head else None,
        logprob_auroc_within=within(base, "mean_logprobs"),
        beam_tokens={n: b.tokens for n, b in (beams or {}).items()},
        beam_shapes={n: b.label for n, b in (beams or {}).items()})
    if not has_head:
        report.skipped.append("sprm_best, sprm_vote and sprm_auroc: the model directory has no trained "
                              "SPRM head (sprm_head.safetensors); head-free methods only")
    if eval_set.excluded:
        report.notes.append(f"{len(eval_set.excluded)} problems excluded (reference answer not parsable): "
                            + ", ".join(p.id for p in eval_set.excluded[:10]))

    t0 = time.perf_counter()
    paths = set_plots(eval_set, report, default, step_scores.get(DEFAULT_HEAD), bounds, score_groups,
                   logprob_auc, base, cfg, plot_dir)
    timings["plots"] = time.perf_counter() - t0
    return report, paths, timings


def _fits_context(rm, prompt: str) -> bool:
    from components.model.reflective import PromptError

    try:
        rm.encode_prompt(prompt)
    except PromptError:
        return False
    return True


def _with_placeholders(n_problems: int, fits: list[int], sampled: list[list[Candidate]], m: int,
                       hidden_size: int) -> list[list[Candidate]]:
    """Sampled candidates in problem order; a prompt that was not sampled gets M empty (wrong,
    answer-less, zero-token) candidates, so it counts against every method instead of vanishing."""
    out: list[list[Candidate]] = []
    by_index = dict(zip(fits, sampled))
    for i in range(n_problems):
        out.append(by_index.get(i) or [
            Candidate(prompt_index=i, text="", token_ids=[], step_positions=[],
                      step_hidden=torch.zeros(0, hidden_size), step_logprob=torch.zeros(0, 2),
                      mean_logprob=float("nan"), finished=False) for _ in range(m)])
    return out


def scoring_placement(cfg: EvaluateConfig) -> tuple[str, torch.dtype | None]:
    """Where the policy that scores runs: `evaluate.device` in fp32, or with vLLM the GPU in bf16.

    vLLM needs a GPU anyway, so its second pass (the backbone over prompt + completion) runs there
    in bf16 as well, on `evaluate.device` when that names a CUDA device, else on `cuda`.
    """
    if cfg.backend != "vllm":
        return cfg.device, None
    return (cfg.device if cfg.device.startswith("cuda") else "cuda"), torch.bfloat16


def make_sampler(rm, cfg: EvaluateConfig, model_dir: Path) -> CandidateSampler:
    """The generation backend: the model itself (captured hidden states) or vLLM + second pass."""
    if cfg.backend == "vllm":
        from components.inference.vllm_backend import VLLMSampler

        return VLLMSampler.from_reflective(rm, model_dir)
    return rm


def run_evaluate(model_dir: Path, eval_sets: list[str], cfg: EvaluateConfig, out_dir: Path,
                 tracking_uri: str | None = None, extra_heads: dict[str, Path] | None = None,
                 train_parquet: Path | None = None, task: TaskConfig = TaskConfig(),
                 log: Callable[[str], None] = say) -> EvalResult:
    """Evaluate `model_dir` on `eval_sets` (see the module docstring); returns an `EvalResult`."""
    from components.model.reflective import ReflectiveModel

    out_dir = Path(out_dir)
    check_own_dir(out_dir, OUTPUTS, flag="--out")      # before any sampling
    sets = list(eval_sets or cfg.eval_sets)
    loaded = [load_eval_set(s, n_problems=cfg.n_problems if s in SYNTHETIC_SETS else cfg.max_real_problems,
                            seed=cfg.problem_seed, task=task,
                            train_parquet=train_parquet if s in SYNTHETIC_SETS else None)
              for s in sets]  # load every set first: a bad name fails before any sampling
    torch.manual_seed(cfg.seed)
    if cfg.backend == "vllm":                      # refuse before loading the model
        from components.inference.vllm_backend import require_gpu_vllm
        require_gpu_vllm("evaluate --backend vllm", "use --backend hf")
    device, dtype = scoring_placement(cfg)
    if cfg.backend == "vllm":
        log(f"evaluate: vLLM samples; the second pass scores on {device} in bf16")
    rm = ReflectiveModel.load(model_dir, device=device, dtype=dtype or cfg.dtype)
    heads = load_heads(rm, extra_heads)
    sampler = make_sampler(rm, cfg, Path(model_dir))
    if DEFAULT_HEAD not in heads:
        log(f"evaluate: {model_dir} has no trained SPRM head; SPRM methods skipped (head-free methods only)")
    reports: list[SetReport] = []
    timings: dict[str, float] = {}
    # every output is written into a staging directory and renamed in as one (components.atomic)
    with staged_dir(out_dir, OUTPUTS) as staged:
        files, artifacts = _evaluate_sets(loaded, rm, sampler, heads, cfg, staged.path, reports, timings, log,
                                          header_of=model_dir, model_digest=dir_digest(model_dir))
        staged.commit()
    files = {k: staged.final(v) for k, v in files.items()}
    artifacts = [staged.final(p) for p in artifacts]
    metrics = flat_metrics(reports)
    params = {f"evaluate.{k}": v for k, v in as_flat_dict(cfg).items()}
    params.update({"evaluate.model_dir": str(model_dir), "evaluate.extra_heads": str(sorted(extra_heads or {})),
                   "evaluate.decode_threads": decode_threads_setting()})
    run_metrics = {**metrics, **bucket_metrics(reports), **{f"eval/time/{k}_s": v for k, v in timings.items()}}
    run_id = log_to_mlflow(run_metrics, [*files.values(), *artifacts], params, tracking_uri, datasets=loaded,
                           run_name=f"evaluate-{Path(model_dir).name}-{time.strftime('%Y%m%d-%H%M%S')}")
    return EvalResult(reports, metrics, {**files, **{p.stem: p for p in artifacts}}, timings, run_id)


def _evaluate_sets(loaded, rm, sampler, heads, cfg: EvaluateConfig, out_dir: Path, reports: list, timings: dict,
                   log: Callable[[str], None], header_of: Path, model_digest: str) -> tuple[dict[str, Path], list[Path]]:
    """Sample, score and report every set into `out_dir`; returns (report files, plot files)."""
    artifacts: list[Path] = []
    for es in loaded:
        log(f"evaluate: {es.name}: {len(es)} problems x {cfg.max_n} samples"
            + (f" ({len(es.excluded)} excluded: unparsable reference answer)" if es.excluded else ""))
        t0 = time.perf_counter()
        fits = [i for i, p in enumerate(es.problems) if _fits_context(rm, p.prompt)]
        # a progress bar on a terminal (tqdm's disable=None: none in logs and CI; none under -q)
        with tqdm(total=len(fits) * cfg.max_n, desc=f"evaluate {es.name}", unit="sample", mininterval=2.0,
                  disable=bars_disabled()) as bar:
            sampled = sampler.generate([es.problems[i].prompt for i in fits], cfg.max_n, cfg.sampling,
                                       seed=cfg.seed, batch_size=cfg.batch_size, progress=bar.update) if fits else []
        cands = _with_placeholders(len(es), fits, sampled, cfg.max_n, rm.model.config.get_text_config().hidden_size)
        timings[f"{es.name}/generate"] = time.perf_counter() - t0
        beams = None
        if cfg.beam and DEFAULT_HEAD in heads and supports_beam(rm):
            t0 = time.perf_counter()
            beams = run_beams(rm, es, fits, cfg, log)
            timings[f"{es.name}/beam"] = time.perf_counter() - t0
        report, paths, set_timings = evaluate_set(es, cands, heads, cfg, out_dir / "plots", beams)
        timings.update({f"{es.name}/{k}": v for k, v in set_timings.items()})
        report.timings = {k: v for k, v in timings.items() if k.startswith(f"{es.name}/")}
        if len(fits) < len(es):
            report.notes.append(f"{len(es) - len(fits)} of {len(es)} prompts exceed the model's context "
                                f"({rm.max_positions} tokens); they were not sampled and count as wrong")
        if cfg.beam and beams is None:
            report.skipped.append("beam: " + ("the model has no trained SPRM head" if DEFAULT_HEAD not in heads
                                              else "the model's step markers span several tokens"))
        if es.name not in SYNTHETIC_SETS:
            report.notes.append("a real benchmark: the tiny default model is expected to score near 0 here")
        reports.append(report)
        artifacts += paths
        est = report.estimates
        log(f"evaluate: {es.name}: pass@1 {est[('pass', 1)].value:.3f}, majority@{cfg.max_n} "
            f"{est[('majority', cfg.max_n)].value:.3f}, oracle@{cfg.max_n} {est[('oracle', cfg.max_n)].value:.3f}"
            + (f", sprm_best@{cfg.max_n} {est[('sprm_best', cfg.max_n)].value:.3f}, AUROC {report.auroc:.3f}"
               if ('sprm_best', cfg.max_n) in est else "")
            + f" ({timings[f'{es.name}/generate']:.0f}s generate)")
    header = (f"# Evaluation of {header_of}\n\nEfforts: low N={cfg.efforts.low}, medium N={cfg.efforts.medium}, "
              f"high N={cfg.efforts.high}; cells are mean [{cfg.ci_level:.0%} bootstrap CI over problems]; "
              f"selectors at N < {cfg.max_n} are averaged over random N-subsets of the same samples.")
    return write_reports(reports, out_dir, header, identity={MODEL_DIGEST: model_digest}), artifacts

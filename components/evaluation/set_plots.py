"""The plots of one evaluated set, assembled from its report and samples (`plots` draws them)."""

from __future__ import annotations

from pathlib import Path

from components.evaluation import plots
from components.data.eval_sets import EvalSet
from components.evaluation.report import SetReport
from components.inference.selection import ProblemSamples


def _auroc_caption(report: SetReport) -> str:
    """'AUROC pooled / within a problem: SPRM a / b, confidence c / d' for the scaling plot."""
    def pair(pooled, within) -> str:
        w = within.value if within is not None else float("nan")
        return f"{pooled:.3f} / {w:.3f}"
    parts = []
    if report.auroc is not None:
        parts.append("SPRM " + pair(report.auroc, report.auroc_within))
    parts.append("confidence " + pair(report.logprob_auroc, report.logprob_auroc_within))
    return "AUROC pooled / within a problem: " + ", ".join(parts)


def set_plots(eval_set: EvalSet, report: SetReport, samples: list[ProblemSamples], steps, bounds,
              score_groups, logprob_auc: float, base: list[ProblemSamples], cfg,
              plot_dir: Path) -> list[Path]:
    """The four plots of one evaluated set (scaling curve with the AUROCs, accuracy vs tokens,
    score distributions, step heatmap); `cfg` is the `EvaluateConfig` (heatmap size)."""
    name = eval_set.name
    curves: dict[str, list] = {}
    for (method, n), e in report.estimates.items():
        curves.setdefault(method, []).append((n, e))
    for variant, v in report.ablations.items():
        if variant.endswith("-geometric"):
            curves[f"sprm_best/{variant}"] = [(n, e) for (m, n), e in v.estimates.items() if m == "sprm_best"]
    paths = [plots.plot_scaling_curve(curves, plot_dir / f"{name}_scaling.png",
                                      f"{name}: accuracy vs N ({report.n_problems} problems)\n"
                                      + _auroc_caption(report))]
    tokens = report.mean_tokens
    compute = {m: [(report.beam_tokens.get(n, float("nan")) if m == "beam" else n * tokens, e.value)
                   for n, e in pts] for m, pts in curves.items() if "/" not in m and m != "pass"}
    paths.append(plots.plot_accuracy_vs_tokens(compute, plot_dir / f"{name}_tokens.png",
                                               f"{name}: accuracy vs generated tokens"))
    score_groups = dict(score_groups)
    score_groups["confidence (mean log-prob)"] = ([x for p in base for x in p.mean_logprobs],
                                                  [x for p in base for x in p.correct], logprob_auc)
    paths.append(plots.plot_score_distributions(score_groups, plot_dir / f"{name}_scores.png",
                                                f"{name}: scores of correct vs incorrect candidates"))
    if steps is not None and cfg.heatmap_problems > 0:
        # problems with both correct and incorrect candidates show most; fall back to the first ones
        mixed = [i for i, p in enumerate(samples) if 0 < sum(p.correct) < len(p)]
        chosen = (mixed + [i for i in range(len(samples)) if i not in mixed])[:cfg.heatmap_problems]
        panels = [(eval_set.problems[i].prompt[:40], steps[bounds[i]:bounds[i + 1]], samples[i].correct)
                  for i in chosen]
        paths.append(plots.plot_step_heatmap(panels, plot_dir / f"{name}_step_heatmap.png",
                                             f"{name}: SPRM step scores (rows = candidates)"))
    return paths

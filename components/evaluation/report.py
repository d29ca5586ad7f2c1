"""Metric names, `metrics.json`, the markdown table and MLflow logging of an evaluation.

Names: `eval/<set>/<method>_at_<N>` with methods `pass` (only `pass_at_1`), `majority`,
`sprm_best`, `sprm_vote`, `logprob_best`, `oracle`, `beam` (step-level beam search at the effort of
N, with `eval/<set>/beam_tokens_at_<N>` its generated tokens per problem), plus `eval/<set>/sprm_auroc` (and
`eval/<set>/logprob_auroc`, the confidence baseline's score vs correctness), pooled over every
candidate, and `eval/<set>/sprm_auroc_within` / `eval/<set>/logprob_auroc_within`, the mean AUROC
within a problem (over problems with mixed outcomes: what best-of-N decides on). Selector
ablations (another head, another step-score aggregation) are reported as
`eval/<set>/ablation/<variant>/<method>_at_<N>` and `.../<variant>/sprm_auroc`, per-difficulty
buckets as `eval/<set>/bucket/<bucket>/<method>_at_<N>`. `metrics.json` (a DVC metrics file)
holds the headline and ablation names; bucket means and confidence intervals go to
`details.json` and the markdown report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.atomic import write_text
from components.evaluation.metrics import Estimate
from components.tracking.store import ensure_experiment

METHOD_ORDER: tuple[str, ...] = ("pass", "majority", "sprm_best", "sprm_vote", "logprob_best", "logprob_vote",
                                 "beam", "oracle")
METRICS_FILE = "metrics.json"
DETAILS_FILE = "details.json"
REPORT_FILE = "report.md"
MODEL_DIGEST = "model_digest"   # metrics.json key: the content digest of the model measured


def metric_name(eval_set: str, method: str, n: int, variant: str | None = None) -> str:
    """`eval/<set>/<method>_at_<N>` (or the ablation form with `variant`).

    >>> metric_name("synthetic", "sprm_best", 8), metric_name("aime24", "pass", 1)
    ('eval/synthetic/sprm_best_at_8', 'eval/aime24/pass_at_1')
    """
    base = f"eval/{eval_set}/ablation/{_safe(variant)}" if variant else f"eval/{eval_set}"
    return f"{base}/{method}_at_{n}"


def auroc_name(eval_set: str, variant: str | None = None) -> str:
    base = f"eval/{eval_set}/ablation/{_safe(variant)}" if variant else f"eval/{eval_set}"
    return f"{base}/sprm_auroc"


def _safe(text: str) -> str:
    """MLflow metric names allow letters, digits, `_ - . / space`; map anything else to `-`."""
    return re.sub(r"[^A-Za-z0-9_./ -]", "-", text)


@dataclass(frozen=True)
class VariantResult:
    """Scores of one selector setting (a head and an aggregation) on the shared samples."""

    estimates: dict[tuple[str, int], Estimate]
    auroc: float
    auroc_within: float = float("nan")


@dataclass
class SetReport:
    """Everything measured on one eval set; `skipped` lists methods not run, with the reason."""

    name: str
    n_problems: int
    n_excluded: int
    n_samples: int
    estimates: dict[tuple[str, int], Estimate]
    auroc: float | None
    buckets: dict[str, dict[tuple[str, int], tuple[float, int]]] = field(default_factory=dict)
    ablations: dict[str, VariantResult] = field(default_factory=dict)
    mean_tokens: float = float("nan")
    logprob_auroc: float = float("nan")   # the confidence selector's score vs correctness
    auroc_within: Estimate | None = None           # mean within-problem AUROC of the head
    logprob_auroc_within: Estimate | None = None   # ... and of confidence
    beam_tokens: dict[int, float] = field(default_factory=dict)   # N -> generated tokens per problem
    beam_shapes: dict[int, str] = field(default_factory=dict)     # N -> "beam_2x4"
    timings: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def flat_metrics(reports: Sequence[SetReport]) -> dict[str, float]:
    """{metric name: value} for metrics.json and MLflow (headline + AUROC + ablations)."""
    out: dict[str, float] = {}
    for r in reports:
        for (method, n), est in sorted(r.estimates.items(), key=_order):
            out[metric_name(r.name, method, n)] = est.value
        for n, tokens in sorted(r.beam_tokens.items()):
            out[f"eval/{r.name}/beam_tokens_at_{n}"] = tokens
        if r.auroc is not None:
            out[auroc_name(r.name)] = r.auroc
        out[f"eval/{r.name}/logprob_auroc"] = r.logprob_auroc
        if r.auroc_within is not None:
            out[f"{auroc_name(r.name)}_within"] = r.auroc_within.value
        if r.logprob_auroc_within is not None:
            out[f"eval/{r.name}/logprob_auroc_within"] = r.logprob_auroc_within.value
        for variant, v in r.ablations.items():
            for (method, n), est in sorted(v.estimates.items(), key=_order):
                out[metric_name(r.name, method, n, variant)] = est.value
            out[auroc_name(r.name, variant)] = v.auroc
            out[f"{auroc_name(r.name, variant)}_within"] = v.auroc_within
    return out


def bucket_metrics(reports: Sequence[SetReport]) -> dict[str, float]:
    """{`eval/<set>/bucket/<bucket>/<method>_at_<N>`: mean} over every bucket."""
    out: dict[str, float] = {}
    for r in reports:
        for bucket, values in r.buckets.items():
            for (method, n), (mean, _) in sorted(values.items(), key=_order):
                out[f"eval/{r.name}/bucket/{_safe(bucket)}/{method}_at_{n}"] = mean
    return out


def _order(item: tuple[tuple[str, int], Any]) -> tuple[int, int]:
    (method, n), _ = item
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return rank, n


def _json_value(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def write_json(data: Mapping[str, Any], path: Path) -> Path:
    """Write JSON atomically (temp file + rename), NaN written as null."""
    return write_text(Path(path), json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_reports(reports: Sequence[SetReport], out_dir: Path, header: str = "",
                  identity: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write metrics.json (DVC metrics), details.json (CIs, buckets) and report.md to `out_dir`.

    `identity` (`{"model_digest": ...}`: which model was measured) goes into metrics.json beside the
    numbers, so that `reflect promote --eval-dir` can refuse metrics of another version.
    """
    out_dir = Path(out_dir)
    metrics = {**dict(identity or {}), **{k: _json_value(v) for k, v in flat_metrics(reports).items()}}
    details: dict[str, Any] = {}
    for r in reports:
        details[r.name] = {
            "n_problems": r.n_problems, "n_excluded": r.n_excluded, "n_samples": r.n_samples,
            "mean_tokens": _json_value(r.mean_tokens),
            "beam": {str(n): {"shape": r.beam_shapes.get(n), "tokens": _json_value(t)} for n, t in r.beam_tokens.items()},
            "skipped": r.skipped, "notes": r.notes,
            "timings_s": {k: round(v, 2) for k, v in r.timings.items()},
            "intervals": {metric_name(r.name, m, n): [_json_value(e.low), _json_value(e.high)]
                          for (m, n), e in sorted(r.estimates.items(), key=_order)}
            | {f"{auroc_name(r.name)}_within" if label == "sprm" else f"eval/{r.name}/logprob_auroc_within":
               [_json_value(e.low), _json_value(e.high)]
               for label, e in (("sprm", r.auroc_within), ("logprob", r.logprob_auroc_within)) if e is not None},
            "buckets": {b: {"n_problems": next(iter(v.values()))[1] if v else 0,
                            **{f"{m}_at_{n}": _json_value(mean)
                               for (m, n), (mean, _) in sorted(v.items(), key=_order)}}
                        for b, v in r.buckets.items()},
        }
    return {
        "metrics": write_json(metrics, out_dir / METRICS_FILE),
        "details": write_json(details, out_dir / DETAILS_FILE),
        "report": write_text(out_dir / REPORT_FILE, markdown_report(reports, header)),
    }


def _fmt(e: Estimate | None) -> str:
    if e is None or math.isnan(e.value):
        return "–"
    return f"{e.value:.3f} [{e.low:.2f}, {e.high:.2f}]"


def markdown_report(reports: Sequence[SetReport], header: str = "") -> str:
    """One table per set: rows = methods, columns = N, cells = mean [95% CI]; then ablations,
    buckets, skipped methods and notes."""
    lines = [header.rstrip(), ""] if header else []
    for r in reports:
        ns = sorted({n for _, n in r.estimates})
        lines += [f"## {r.name}", "",
                  f"{r.n_problems} problems x {r.n_samples} samples"
                  + (f"; {r.n_excluded} excluded (reference answer not parsable)" if r.n_excluded else "")
                  + (f"; mean {r.mean_tokens:.1f} tokens per sample" if not math.isnan(r.mean_tokens) else ""),
                  ""]
        lines += ["| method | " + " | ".join(f"N={n}" for n in ns) + " |",
                  "|---|" + "---|" * len(ns)]
        methods = sorted({m for m, _ in r.estimates}, key=lambda m: (METHOD_ORDER + (m,)).index(m))
        for m in methods:
            lines.append(f"| {m} | " + " | ".join(_fmt(r.estimates.get((m, n))) for n in ns) + " |")
        if r.beam_tokens:
            lines += ["", "beam: SPRM-guided step-level beam search at each effort's N (width x expand), sampled "
                          "on its own; generated tokens per problem "
                      + ", ".join(f"N={n} {r.beam_shapes.get(n, '')} {t:.0f}" for n, t in sorted(r.beam_tokens.items()))
                      + (f" (best-of-N: N x {r.mean_tokens:.1f})" if not math.isnan(r.mean_tokens) else "") + "."]
        lines += ["", "| AUROC (score vs correctness) | pooled over all candidates | within a problem "
                      "(mean over problems with mixed outcomes) |", "|---|---|---|"]
        for label, pooled, within in (("SPRM head (trajectory score)", r.auroc, r.auroc_within),
                                      ("confidence (mean token log-prob)", r.logprob_auroc,
                                       r.logprob_auroc_within)):
            if pooled is None or math.isnan(pooled):
                continue
            cell = (f"{_fmt(within)} over {within.n_problems} problems"
                    if within is not None and within.n_problems else "–")
            lines.append(f"| {label} | {pooled:.3f} | {cell} |")
        if r.ablations:
            lines += ["", "### Selector ablations (same samples)", "",
                      "| variant | AUROC | AUROC within | " + " | ".join(f"sprm_best@{n}" for n in ns) + " | "
                      + " | ".join(f"sprm_vote@{n}" for n in ns) + " |",
                      "|---|---|---|" + "---|" * (2 * len(ns))]
            for variant, v in r.ablations.items():
                cells = [_fmt(v.estimates.get((m, n))) for m in ("sprm_best", "sprm_vote") for n in ns]
                lines.append(f"| {variant} | {v.auroc:.3f} | {v.auroc_within:.3f} | " + " | ".join(cells) + " |")
        if r.buckets:
            top = max(ns) if ns else 1  # pass@1 and every method at the largest N (all N: details.json)
            keys = [k for k in sorted(next(iter(r.buckets.values())), key=lambda k: _order((k, 0)))
                    if k == ("pass", 1) or k[1] == top]
            lines += ["", "### By difficulty bucket (means)", "",
                      "| bucket | problems | " + " | ".join(f"{m}@{n}" for m, n in keys) + " |",
                      "|---|---|" + "---|" * len(keys)]
            for b, vals in sorted(r.buckets.items()):
                count = next(iter(vals.values()))[1] if vals else 0
                lines.append(f"| {b} | {count} | "
                             + " | ".join(f"{vals[k][0]:.3f}" if k in vals else "–" for k in keys) + " |")
        for s in r.skipped:
            lines += ["", f"Skipped: {s}"]
        for note in r.notes:
            lines += ["", f"Note: {note}"]
        lines.append("")
    return "\n".join(lines) + "\n"


def log_to_mlflow(metrics: Mapping[str, float], artifacts: Sequence[Path], params: Mapping[str, Any],
                  tracking_uri: str | None, run_name: str = "evaluate",
                  experiment: str = "reflective-math", datasets: Sequence[Any] = ()) -> str | None:
    """Log metrics, params and artifact files to MLflow; returns the run id, or None when there is
    neither an active run nor a `tracking_uri` (nothing is logged then). Each eval set in
    `datasets` becomes a dataset input of the run (context `evaluation`).

    With an active run (e.g. inside a training flow) everything goes to that run; otherwise a new
    run `run_name` is started in `experiment` at `tracking_uri`.
    """
    import mlflow

    active = mlflow.active_run()
    if active is None and tracking_uri is None:
        return None
    finite = {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(float(v))}

    def _log() -> str:
        run = mlflow.active_run()
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(finite)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="eval")
        for eval_set in datasets:
            _log_eval_set(eval_set)
        return run.info.run_id

    if active is not None:
        return _log()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(tracking_uri, experiment))
    with mlflow.start_run(run_name=run_name):
        return _log()


def _log_eval_set(eval_set: Any) -> None:
    """An `EvalSet` as a dataset input of the active run: id, prompt, answer and bucket per problem."""
    import mlflow
    import mlflow.data
    import pandas as pd

    frame = pd.DataFrame([{"id": p.id, "prompt": p.prompt, "answer": p.answer, "bucket": p.bucket}
                          for p in eval_set.problems])
    mlflow.log_input(mlflow.data.from_pandas(frame, source=eval_set.source or eval_set.name, name=eval_set.name),
                     context="evaluation")

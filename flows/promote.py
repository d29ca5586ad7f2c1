"""The promote stage as a Prefect flow: compare challenger and champion, move `champion` or not.

Both must be measured on the same eval set and samples. The champion's gate values are recorded on
its version with the digest of the eval config; when that digest differs from the challenger's
(params changed), the champion is downloaded and evaluated again with the same config first.
Then `components.registry.promotion.promote` decides under the promotion lock and records why.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from components.evaluation.report import metric_name
from components.pipeline_params import load_pipeline_params
from components.registry.promotion import (EFFORT_NAMES, MODEL_DIGEST, Decision, PromoteConfig, champion_to_reevaluate,
                                           check_metrics_belong, eval_fingerprint, link_metrics_to_model,
                                           promote)
from components.registry.pyfunc import download_model_dir
from components.tracking.store import DEFAULT_TRACKING_URI
from flows.registry_io import REGISTRY_RETRIES, REGISTRY_RETRY_DELAY_S, registry_io_only

_REGISTRY = dict(cache_policy=NO_CACHE, retries=REGISTRY_RETRIES, retry_delay_seconds=REGISTRY_RETRY_DELAY_S,
                 retry_condition_fn=registry_io_only)


@task(name="champion-to-reevaluate", **_REGISTRY)
def stale_champion_task(name: str, tracking_uri: str, fingerprint: str) -> str | None:
    from mlflow import MlflowClient

    return champion_to_reevaluate(MlflowClient(tracking_uri), name, fingerprint)


@task(name="download-champion", **_REGISTRY)
def download_task(name: str, version: str, tracking_uri: str, dst: Path) -> Path:
    return download_model_dir(name, version, tracking_uri, dst)


@task(name="promote", **_REGISTRY)
def promote_task(name: str, version: str, metrics: dict, cfg: PromoteConfig, tracking_uri: str,
                 fingerprint: str, measured: dict[str, dict]) -> Decision:
    from mlflow import MlflowClient

    return promote(name, version, metrics, cfg, MlflowClient(tracking_uri), eval_fingerprint=fingerprint,
                   champion_metrics=measured)


@task(name="link-metrics", **_REGISTRY)
def link_task(name: str, version: str, metrics: dict, tracking_uri: str) -> int:
    """The evaluation metrics on the version's logged model (its page in the MLflow UI)."""
    from mlflow import MlflowClient

    return link_metrics_to_model(MlflowClient(tracking_uri), name, version, metrics)


@task(name="describe-version", **_REGISTRY)
def describe_task(name: str, version: str, description: str, tracking_uri: str) -> None:
    """The version's description in the registry UI: its evaluation and the gate's decision."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri).update_model_version(name, version, description=description[:5000])


def evaluation_summary(metrics: dict, cfg: PromoteConfig) -> str:
    """One markdown line per set: pass@1 and the served method at each effort, from `metrics`."""
    lines = []
    for eval_set in dict.fromkeys(k.split("/")[1] for k in metrics if k.startswith("eval/") and k.count("/") == 2):
        cells = [f"pass@1 {metrics[k]:.3f}" for k in [metric_name(eval_set, "pass", 1)] if isinstance(metrics.get(k), float)]
        for effort in EFFORT_NAMES:
            n = getattr(cfg.efforts, effort)
            value = metrics.get(metric_name(eval_set, cfg.method, n))
            if isinstance(value, float):
                cells.append(f"{cfg.method}@{n} ({effort}) {value:.3f}")
        if cells:
            lines.append(f"- `{eval_set}`: " + ", ".join(cells))
    return "## Evaluation\n\n" + ("\n".join(lines) or "- no evaluation metrics") + "\n\n"


def decision_markdown(name: str, version: str, decision: Decision) -> str:
    """The gate's verdict and every number it looked at, as a markdown table."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(decision.values.items()))
    verdict = "promoted to `champion`" if decision.promote else "not promoted"
    return (f"# {name} version {version}: {verdict}\n\n{decision.reason}\n\n| value | |\n|---|---|\n{rows}\n")


@flow(name="promote", log_prints=True)   # stage lines in the Prefect UI
def promote_flow(version: str, eval_dir: Path = Path("reports/eval"), metrics: dict | None = None,
                 params: Path = Path("params.yaml"), tracking_uri: str = DEFAULT_TRACKING_URI,
                 name: str | None = None, eval_sets: list[str] | None = None,
                 workdir: Path = Path(".")) -> dict:
    """Gate `version` (metrics from `metrics` or `eval_dir/metrics.json`) against the champion."""
    p = load_pipeline_params(params)          # a missing file, an unknown section or key is refused
    cfg = p.promote
    name = name or p.register.name
    eval_cfg = p.evaluate
    sets = list(eval_sets or eval_cfg.eval_sets)
    if metrics is None:
        path = Path(eval_dir) / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no evaluation metrics; run `reflect evaluate` on version {version} first")
        metrics = json.loads(path.read_text(encoding="utf-8"))
    if MODEL_DIGEST not in metrics:                    # pre-identity files, hand-made dicts
        check_metrics_belong(metrics, {}, name, str(version))
    fingerprint = eval_fingerprint(eval_cfg, p.task, sets)
    measured: dict[str, dict] = {}
    stale = stale_champion_task(name, tracking_uri, fingerprint)
    if stale is not None and stale != str(version):
        from flows.evaluate import evaluate_flow

        champ_dir = download_task(name, stale, tracking_uri, Path(workdir) / "models" / f"champion-v{stale}")
        measured[stale] = evaluate_flow(model_dir=champ_dir, eval_sets=sets, params=Path(params),
                                        out_dir=Path(workdir) / "reports" / f"eval-champion-v{stale}",
                                        tracking_uri=tracking_uri)
    decision = promote_task(name, str(version), dict(metrics), cfg, tracking_uri, fingerprint, measured)
    verdict = decision_markdown(name, str(version), decision)
    create_markdown_artifact(verdict, key="promotion-decision", description=f"gate for {name} version {version}")
    describe_task(name, str(version), evaluation_summary(metrics, cfg) + verdict, tracking_uri)
    link_task(name, str(version), dict(metrics), tracking_uri)
    return {"name": name, "version": str(version), "promoted": decision.promote, "reason": decision.reason,
            "values": decision.values}

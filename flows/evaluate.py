"""The evaluation stage as a Prefect flow (docs/method.md sections 4 and 6).

Thin: one task runs `components.evaluation.runner.run_evaluate` (sample once at the largest N,
every method from the same samples, plots, metrics.json) and logs to MLflow through it.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from components.data.synthetic import TaskConfig
from components.evaluation.config import EvaluateConfig
from components.evaluation.runner import EvalResult, run_evaluate
from components.pipeline_params import load_pipeline_params
from components.tracking.store import DEFAULT_TRACKING_URI


@task(name="evaluate", cache_policy=NO_CACHE)  # samples with a model and writes files
def evaluate_task(model_dir: Path, eval_sets: list[str], cfg: EvaluateConfig, out_dir: Path,
                  tracking_uri: str | None, extra_heads: dict[str, Path] | None,
                  train_parquet: Path | None, task_cfg: TaskConfig) -> EvalResult:
    return run_evaluate(model_dir, eval_sets, cfg, out_dir, tracking_uri, extra_heads,
                        train_parquet=train_parquet, task=task_cfg)


@flow(name="evaluate", log_prints=True)   # stage lines in the Prefect UI
def evaluate_flow(model_dir: Path = Path("models/train/last"), eval_sets: list[str] | None = None,
                  out_dir: Path = Path("reports/eval"), params: Path = Path("params.yaml"),
                  tracking_uri: str | None = DEFAULT_TRACKING_URI,
                  extra_heads: dict[str, Path] | None = None,
                  train_parquet: Path | None = None) -> dict[str, float]:
    """Evaluate `model_dir` on `eval_sets` (default: evaluate.eval_sets); returns the flat metrics."""
    p = load_pipeline_params(params)          # a missing file, an unknown section or key is refused
    cfg, task_cfg = p.evaluate, p.task
    result = evaluate_task(Path(model_dir), list(eval_sets or cfg.eval_sets), cfg, Path(out_dir),
                           tracking_uri, extra_heads, train_parquet, task_cfg)
    # the evaluation table on the flow run's Artifacts tab (and the Artifacts page, by key)
    create_markdown_artifact(Path(result.paths["report"]).read_text(encoding="utf-8"), key="evaluation-report",
                             description=f"best-of-N against pass@1, majority, confidence and oracle: {model_dir}")
    return result.metrics

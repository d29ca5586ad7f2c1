"""The cleaning stage as a Prefect flow (docs/method.md section 5).

Thin: one task runs `components.data.cleaning.run_clean` (sources -> agents -> consensus ->
ledger -> GX gate), one logs its counts, params and report to MLflow. A failed gate raises, so
the flow run fails instead of looking green.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from components.config import as_flat_dict
from components.data.cleaning import CleanConfig, CleanReport, run_clean
from components.pipeline_params import load_pipeline_params
from components.data.ledger import report_metrics
from components.inference.policy import open_policy
from components.tracking.store import DEFAULT_TRACKING_URI, ensure_experiment


@task(name="clean", cache_policy=NO_CACHE)  # it writes files: never reuse a cached result
def clean_task(sources: list[str], out_dir: Path, eval_sets: list[str] | None, policy: Path | None,
               cfg: CleanConfig) -> CleanReport:
    return run_clean(sources, out_dir, eval_sets, open_policy(policy, cfg.difficulty), cfg)


@task(name="log-clean", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)  # retries: I/O only
def log_task(report: CleanReport, cfg: CleanConfig, tracking_uri: str, experiment: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(tracking_uri, experiment))
    with mlflow.start_run(run_name="clean") as run:
        mlflow.log_params({f"clean.{k}": str(v)[:500] for k, v in as_flat_dict(cfg).items()})
        mlflow.log_metrics(report_metrics(report.report))
        mlflow.log_metrics({f"clean_time/{k}": v for k, v in report.timings.items()})
        mlflow.log_artifact(str(report.out_dir / "report.json"), artifact_path="clean")
        return run.info.run_id


@flow(name="clean", log_prints=True)   # stage lines in the Prefect UI
def clean_flow(sources: list[str] | None = None, out_dir: Path = Path("data/clean"),
               eval_sets: list[str] | None = None, policy: Path | None = None,
               params: Path = Path("params.yaml"), tracking_uri: str = DEFAULT_TRACKING_URI,
               experiment: str = "reflective-math") -> dict:
    """Clean `sources` (default: the embedded `synthetic-default`) into `out_dir`; log to MLflow."""
    cfg = load_pipeline_params(params).clean  # a missing file, an unknown section or key is refused
    report = clean_task(sources or ["synthetic-default"], Path(out_dir), eval_sets, policy, cfg)
    run_id = log_task(report, cfg, tracking_uri, experiment)
    return {"rows_in": report.rows_in, "rows_kept": report.rows_kept,
            "rows_rejected": report.rows_rejected, "mlflow_run_id": run_id}

"""The cleaning flow: a real Prefect run (test harness) logging to a real MLflow store in tmp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from components.data.sources.files import REPO_ROOT

PARAMS = """clean:
  target_size: 40
  pool: {base_rows: 60, exact_duplicates: 5, near_duplicates: 5, eval_copies: 4, unverifiable: 4,
         malformed: 8, empty: 5, too_long: 1}
  eval_sets: {heldout_n: 20}
"""


def test_components_data_never_imports_flows_or_prefect():
    for path in (REPO_ROOT / "components" / "data").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("flows", "prefect") for n in names), path


@pytest.mark.integration
def test_log_task_writes_counts_to_mlflow(tmp_path):
    import mlflow

    from components.data.cleaning import load_clean_config, run_clean
    from flows.clean import log_task

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    cfg = load_clean_config(params)
    report = run_clean(["synthetic"], tmp_path / "out", ["gsm8k"], None, cfg)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_id = log_task.fn(report, cfg, uri, "test-clean")
    run = mlflow.MlflowClient(uri).get_run(run_id)
    assert run.data.metrics["rows_kept"] == 40 and run.data.metrics["rows_in"] == report.rows_in
    assert run.data.metrics["reason/malformed"] == report.report["per_reason"]["malformed"]
    assert run.data.params["clean.target_size"] == "40"


@pytest.mark.integration
def test_clean_flow_runs_under_prefect(tmp_path):
    import mlflow
    from prefect.testing.utilities import prefect_test_harness

    from flows.clean import clean_flow

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with prefect_test_harness():
        out = clean_flow(["synthetic"], tmp_path / "out", ["gsm8k", "synthetic-heldout"], None, params, uri,
                         "test-clean")
    assert out["rows_kept"] == 40 and out["rows_in"] == out["rows_kept"] + out["rows_rejected"]
    run = mlflow.MlflowClient(uri).get_run(out["mlflow_run_id"])
    assert run.data.metrics["rows_rejected"] == out["rows_rejected"]
    assert Path(tmp_path / "out" / "clean.parquet").is_file()

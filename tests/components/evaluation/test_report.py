"""Metric names, metrics.json/details.json/report.md and MLflow logging to a real local store."""

import json
import math

import mlflow
import pytest

from components.evaluation.metrics import Estimate
from components.evaluation.report import (SetReport, VariantResult, bucket_metrics, flat_metrics, log_to_mlflow,
                                          metric_name, write_reports)


def est(v):
    return Estimate(v, v - 0.1, v + 0.1, 20)


def make_report():
    estimates = {("pass", 1): est(0.4), ("majority", 8): est(0.6), ("sprm_best", 8): est(0.7),
                 ("oracle", 8): est(0.9), ("majority", 1): est(0.4)}
    return SetReport(
        name="synthetic", n_problems=20, n_excluded=1, n_samples=8, estimates=estimates, auroc=0.8,
        buckets={"arith-2ops": {("pass", 1): (0.5, 12), ("sprm_best", 8): (0.75, 12)},
                 "linear": {("pass", 1): (0.25, 8), ("sprm_best", 8): (0.6, 8)}},
        ablations={"bce:geometric": VariantResult({("sprm_best", 8): est(0.5)}, 0.6, 0.55)},
        mean_tokens=31.5, logprob_auroc=0.7, skipped=["nothing"], notes=["a note"],
        auroc_within=Estimate(0.65, 0.6, 0.7, 12), logprob_auroc_within=Estimate(0.75, 0.7, 0.8, 12))


def test_metric_names():
    assert metric_name("synthetic", "pass", 1) == "eval/synthetic/pass_at_1"
    assert metric_name("aime24", "logprob_best", 32) == "eval/aime24/logprob_best_at_32"
    assert metric_name("s", "sprm_best", 8, "bce:min") == "eval/s/ablation/bce-min/sprm_best_at_8"


def test_flat_metrics_and_files(tmp_path):
    r = make_report()
    m = flat_metrics([r])
    assert m["eval/synthetic/pass_at_1"] == 0.4
    assert m["eval/synthetic/sprm_auroc"] == 0.8
    assert m["eval/synthetic/ablation/bce-geometric/sprm_best_at_8"] == 0.5
    assert m["eval/synthetic/ablation/bce-geometric/sprm_auroc"] == 0.6
    assert m["eval/synthetic/logprob_auroc"] == 0.7
    assert m["eval/synthetic/sprm_auroc_within"] == 0.65
    assert m["eval/synthetic/logprob_auroc_within"] == 0.75
    assert m["eval/synthetic/ablation/bce-geometric/sprm_auroc_within"] == 0.55
    assert bucket_metrics([r])["eval/synthetic/bucket/linear/sprm_best_at_8"] == 0.6
    paths = write_reports([r], tmp_path / "out", header="# Eval")
    metrics = json.loads(paths["metrics"].read_text())
    assert metrics == pytest.approx(m)
    details = json.loads(paths["details"].read_text())["synthetic"]
    assert details["n_excluded"] == 1
    assert details["intervals"]["eval/synthetic/sprm_best_at_8"] == pytest.approx([0.6, 0.8])
    assert details["buckets"]["linear"] == {"n_problems": 8, "pass_at_1": 0.25, "sprm_best_at_8": 0.6}
    text = paths["report"].read_text()
    assert "| sprm_best | – | 0.700 [0.60, 0.80] |" in text
    assert "| bce:geometric | 0.600 | 0.550 |" in text
    assert "| SPRM head (trajectory score) | 0.800 | 0.650 [0.60, 0.70] over 12 problems |" in text
    assert "| confidence (mean token log-prob) | 0.700 | 0.750 [0.70, 0.80] over 12 problems |" in text
    assert details["intervals"]["eval/synthetic/sprm_auroc_within"] == pytest.approx([0.6, 0.7])
    assert "Skipped: nothing" in text and "1 excluded" in text


def test_nan_becomes_null(tmp_path):
    r = make_report()
    r.auroc = math.nan
    paths = write_reports([r], tmp_path)
    assert json.loads(paths["metrics"].read_text())["eval/synthetic/sprm_auroc"] is None


def test_no_run_and_no_uri_logs_nothing(tmp_path):
    assert log_to_mlflow({"eval/x/pass_at_1": 0.5}, [], {}, None) is None


@pytest.fixture
def restore_tracking_uri():
    previous = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(previous)


def test_logs_to_a_real_local_store(tmp_path, restore_tracking_uri):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    art = tmp_path / "metrics.json"
    art.write_text("{}")
    run_id = log_to_mlflow({"eval/synthetic/pass_at_1": 0.5, "eval/synthetic/sprm_auroc": math.nan},
                           [art], {"evaluate.max_n": 32}, uri)
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.metrics == {"eval/synthetic/pass_at_1": 0.5}
    assert run.data.params["evaluate.max_n"] == "32"
    assert [a.path for a in client.list_artifacts(run_id, "eval")] == ["eval/metrics.json"]
    assert len(list((tmp_path / "artifacts").rglob("metrics.json"))) == 1  # beside the db, not ./mlruns
    # inside an active run everything goes to that run
    with mlflow.start_run() as active:
        assert log_to_mlflow({"eval/s/oracle_at_2": 1.0}, [], {}, None) == active.info.run_id

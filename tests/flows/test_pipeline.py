"""The whole pipeline on a tiny setting under a real Prefect API: stages, caching, failures."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from components.config import ConfigError

TINY_PARAMS = Path(__file__).with_name("tiny_params.yaml")


def _workdir(tmp_path: Path) -> tuple[Path, Path]:
    params = tmp_path / "params.yaml"
    shutil.copy(TINY_PARAMS, params)
    return tmp_path / "work", params


def test_layout_keeps_everything_under_the_workdir(tmp_path, monkeypatch):
    from flows.pipeline import Layout

    # mlflow.set_tracking_uri writes this variable; a stale value must not move the run's store.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    lay = Layout.under(tmp_path, None)
    assert lay.tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert lay.clean_dir == tmp_path.resolve() / "data" / "clean"
    assert lay.cache_dir.is_relative_to(tmp_path.resolve())
    assert Layout.under(tmp_path, "http://127.0.0.1:5000").tracking_uri == "http://127.0.0.1:5000"


def _logged(caplog) -> str:
    """What the flows logged since the last call (Prefect's run loggers: the UI's lines)."""
    text = "\n".join(r.getMessage() for r in caplog.records)
    caplog.clear()
    return text


@pytest.mark.integration
def test_bad_params_stop_the_pipeline_before_any_stage(tmp_path, prefect_harness):
    from flows.pipeline import pipeline

    params = tmp_path / "params.yaml"
    params.write_text("train: {steps: two}\n")
    with pytest.raises(ConfigError, match="train.steps: expected an integer"):
        pipeline(params=params, workdir=tmp_path / "work")
    assert not (tmp_path / "work" / "data").exists()


@pytest.mark.integration
def test_a_failing_stage_fails_the_pipeline_with_its_own_error(tmp_path, prefect_harness):
    from components.data.sources import SourceError
    from flows.pipeline import pipeline

    work, params = _workdir(tmp_path)
    with pytest.raises(SourceError, match="no-such-source"):
        pipeline(params=params, workdir=work, sources=["no-such-source"])


@pytest.mark.integration
def test_pipeline_end_to_end_then_cached_rerun(tmp_path, tiny_dir, prefect_harness, caplog):
    caplog.set_level(logging.INFO)                    # the flows log their prints (log_prints)
    from flows.pipeline import pipeline

    work, params = _workdir(tmp_path)
    first = pipeline(params=params, workdir=work, model=tiny_dir, sources=["synthetic"])
    out = _logged(caplog)
    for i, stage in enumerate(("clean", "bootstrap", "train", "register", "evaluate", "promote"), 1):
        assert f"pipeline [{i}/6] {stage}" in out
    assert first["version"] == "1" and first["champion"] == "1" and first["promotion"]["promoted"]
    assert "MLflow store: sqlite:///" in out and "make ui" in out and "| method |" in out

    client = MlflowClient(first["tracking_uri"])
    mv = client.get_model_version_by_alias("reflective-math", "champion")
    assert mv.tags["data_version"].startswith("md5:") and mv.tags["training_run_id"] not in ("", "None")
    assert mv.tags["promotion.decision"] == "promote" and "aha_step" in mv.tags
    assert (work / "data" / "clean" / "clean.parquet").is_file()
    metrics = json.loads((work / "reports" / "eval" / "metrics.json").read_text())
    assert metrics["model_digest"] == mv.tags["model_digest"]          # which model the numbers measured
    results = [f for f in (work / ".cache" / "prefect-results").iterdir() if f.is_file()]
    assert len(results) >= 5 and all(isinstance(json.loads(f.read_bytes()), dict) for f in results)  # JSON, no pickles

    again = pipeline(params=params, workdir=work, model=tiny_dir, sources=["synthetic"])
    out = _logged(caplog)
    for stage in ("clean", "train", "register", "evaluate"):
        assert f"{stage}: skipped, inputs unchanged (cached)" in out
    assert again["version"] == "1" and "already the champion" in again["promotion"]["reason"]

    (work / "reports" / "eval" / "metrics.json").unlink()            # an output went missing
    third = pipeline(params=params, workdir=work, model=tiny_dir, sources=["synthetic"])
    out = _logged(caplog)
    assert "evaluate: cached result is stale" in out and (work / "reports" / "eval" / "metrics.json").is_file()
    assert third["champion"] == "1"


DRIVER = """
import sys
from pathlib import Path
from prefect.testing.utilities import prefect_test_harness
from flows.pipeline import pipeline

with prefect_test_harness(server_startup_timeout=120):
    pipeline(params=Path(sys.argv[1]), workdir=Path(sys.argv[2]), model=Path(sys.argv[3]), sources=["synthetic"])
"""


@pytest.mark.integration
def test_a_pipeline_interrupted_mid_train_resumes_from_the_checkpoint(tmp_path, tiny_dir, prefect_harness, caplog):
    caplog.set_level(logging.INFO)                    # the flows log their prints (log_prints)
    import signal
    import subprocess
    import sys
    import time

    from flows.pipeline import pipeline

    work, params = _workdir(tmp_path)
    # 12 steps; the random tiny policy never earns a reward, so do not stop for lack of signal
    params.write_text(params.read_text().replace("steps: 2\n", "steps: 12\n  grpo: {no_signal_patience: 0}\n"))
    log = tmp_path / "first.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(params), str(work), str(tiny_dir)],
                                stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not list(work.glob("models/train/*/checkpoints/step-*")):        # first checkpoint written
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)              # a Prefect cancel / an eviction mid-train: like Ctrl-C
    assert proc.wait(timeout=300) != 0
    assert "train: interrupted" in log.read_text()          # with the newest checkpoint saved

    result = pipeline(params=params, workdir=work, model=tiny_dir, sources=["synthetic"])
    out = _logged(caplog)
    assert "train: resuming from" in out and "(step " in out
    assert result["champion"] == "1"


@pytest.mark.integration
def test_a_second_run_in_the_same_workdir_is_refused(tmp_path, prefect_harness):
    from components.tracking.locks import LockTimeoutError, exclusive_lock
    from flows.pipeline import WORKDIR_LOCK, pipeline

    work, params = _workdir(tmp_path)
    work.mkdir()
    with exclusive_lock(work / WORKDIR_LOCK, timeout_s=0):            # a run in progress holds it
        with pytest.raises(LockTimeoutError, match="another `reflect run` is using this working directory"):
            pipeline(params=params, workdir=work, sources=["synthetic"])
    assert not (work / "data").exists()                                # refused before any stage


TINY_BOOTSTRAP = """
task: {}
bootstrap: {n_train: 400, steps: 20, batch_size: 16, warmup_steps: 2, eval_problems: 8, eval_samples: 2,
            model: {hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2,
                    num_key_value_heads: 1}}
"""


@pytest.mark.integration
def test_a_default_run_is_recorded_in_dvc_lock(tmp_path, prefect_harness, caplog):
    """The embedded-default run in a DVC project leaves `dvc status` clean (dvc.lock written)."""
    import subprocess
    import sys

    from flows.pipeline import REPO, pipeline

    caplog.set_level(logging.INFO)
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / "params.yaml").write_text(TINY_PARAMS.read_text() + TINY_BOOTSTRAP)
    dvc = [sys.executable, "-m", "dvc"]
    status = subprocess.run([*dvc, "status"], cwd=clone, capture_output=True, text=True)
    assert "changed outs" in status.stdout                               # nothing recorded yet
    out = pipeline(params=clone / "params.yaml", workdir=clone)
    assert out["dvc"] == "recorded in dvc.lock", out["dvc"]
    status = subprocess.run([*dvc, "status"], cwd=clone, capture_output=True, text=True)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr
    assert (clone / "dvc.lock").is_file() and (clone / "models" / "train" / "model" / "config.json").is_file()
    shown = subprocess.run([*dvc, "metrics", "show", "--json"], cwd=clone, capture_output=True, text=True)
    assert "eval/synthetic/pass_at_1" in shown.stdout, shown.stdout + shown.stderr
    # metrics files are Git's (dvc.yaml cache: false): this run's against the committed run's
    diff = subprocess.run([*dvc, "metrics", "diff", "--json"], cwd=clone, capture_output=True, text=True)
    changed = json.loads(diff.stdout or "{}").get("reports/eval/metrics.json", {})
    assert "eval/synthetic/pass_at_1" in changed and changed["eval/synthetic/pass_at_1"]["old"] is not None, \
        diff.stdout + diff.stderr

    other = pipeline(params=clone / "params.yaml", workdir=clone, sources=["synthetic"])   # not dvc.yaml's run
    assert other["dvc"].startswith("not recorded: sources or eval sets were given")

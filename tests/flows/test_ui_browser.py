"""The MLflow and Prefect UIs in a real browser (headless Chromium), on a store a short pipeline made.

The train run's page must show the score-gap chart, the registry page the `@champion` alias, and
the Prefect flow run page the stage lines in its logs and the stages' artifacts. Screenshots are
saved under `test-artifacts/ui/` (or `$REFLECT_TEST_ARTIFACTS/ui/`) for a person to look at.

Chromium comes from Debian (`apt-get install chromium`; `.ci/run` installs it in CI) and Playwright
drives it through `executable_path`: Playwright's own browser download cannot work here. Without a
Chromium the test is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.flows.test_pipeline import _workdir

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("REFLECT_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui"

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url}: server exited\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url}: no answer in {timeout_s:.0f}s\n{log.read_text()[-3000:]}")


def _server(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                start_new_session=True)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it with apt-get (root)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, bootstrapped_dir, prefect_harness):
    """One short pipeline run: its summary, its Prefect flow run id and the harness's database."""
    import prefect.settings
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    from flows.pipeline import pipeline

    work, params = _workdir(tmp_path_factory.mktemp("ui"))
    # The bootstrapped policy solves about half its problems: the score gap and AUROC are defined
    # (a random policy never earns a reward, and undefined values are not logged).
    summary = pipeline(params=params, workdir=work, model=bootstrapped_dir, sources=["synthetic"])
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=50)
                if r.parent_task_run_id is None and r.state and r.state.is_completed()]
        flows = {f.id: f.name for f in client.read_flows()}
    run = next(r for r in runs if flows.get(r.flow_id) == "reflective-pipeline")
    db = prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    return summary, str(run.id), db, work


def _page_text(page, needle: str, shot: str, timeout_ms: int = 60_000) -> str:
    """The page's text once `needle` shows; on a timeout, a screenshot `shot`-missing.png and the text seen."""
    try:
        page.wait_for_function("n => document.body && document.body.innerText.includes(n)", arg=needle,
                               timeout=timeout_ms)
    except Exception:
        page.screenshot(path=str(SHOTS / f"{shot}-missing.png"), full_page=True)
        raise AssertionError(f"{page.url}: {needle!r} never showed; the page said:\n{page.inner_text('body')[:3000]}")
    return page.inner_text("body")


def test_mlflow_ui_shows_the_score_gap_chart_and_the_champion(pipeline_run, browser, tmp_path):
    from mlflow import MlflowClient

    summary, _, _, _ = pipeline_run
    uri = summary["tracking_uri"]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("reflective-math")
    train = next(r for r in client.search_runs([exp.experiment_id]) if r.info.run_name.startswith("train-"))
    port = _free_port()
    log = tmp_path / "mlflow.log"
    proc = _server([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
                    "--port", str(port), "--workers", "1"], log, {"MLFLOW_DISABLE_TELEMETRY": "true"})
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/health", proc, log)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # MLflow's UI opens in GenAI mode unless the link says otherwise (the pipeline's links do)
        page.goto(f"{base}/#/experiments/{exp.experiment_id}/runs/{train.info.run_id}/model-metrics"
                  "?workflowType=machine_learning")
        # every section's header shows, even where its charts are below the fold (not rendered)
        text = _page_text(page, "train_time", "mlflow-train-run-metrics")
        # the headline section comes first: reward, score gap and AUROC before the train/ section
        first = [text.find(name) for name in ("headline", "reward_mean", "score_gap", "sprm_auroc", "\ntrain\n")]
        assert -1 not in first and first == sorted(first), first
        page.wait_for_timeout(1500)                      # let the charts draw
        page.screenshot(path=str(SHOTS / "mlflow-train-run-metrics.png"), full_page=True)
        # Charts off screen are not rendered: find each headline chart with the page's own search box.
        for chart in ("score_gap", "sprm_auroc", "reward_mean", "clip_fraction"):   # the last: a train/ chart
            page.get_by_placeholder("Search metric charts").fill(chart)
            _page_text(page, chart, f"mlflow-chart-{chart}")              # the chart's title (the search box's
            # value is not page text); the legend names the run
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SHOTS / f"mlflow-chart-{chart}.png"))

        page.goto(f"{base}/#/experiments/{exp.experiment_id}/runs/{train.info.run_id}?workflowType=machine_learning")
        text = _page_text(page, "summary.reward_last", "mlflow-train-run-overview")   # the before/after figures are tags on the overview
        page.screenshot(path=str(SHOTS / "mlflow-train-run-overview.png"), full_page=True)
        assert train.info.run_name in text

        page.goto(f"{base}/#/models/reflective-math?workflowType=machine_learning")
        text = _page_text(page, "champion", "mlflow-registered-model")
        page.screenshot(path=str(SHOTS / "mlflow-registered-model.png"), full_page=True)
        assert "@" in text or "champion" in text
        page.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_prefect_ui_shows_the_flow_runs_logs_and_artifacts(pipeline_run, browser, tmp_path):
    _, run_id, db, _ = pipeline_run
    port = _free_port()
    log = tmp_path / "prefect.log"
    proc = _server([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
                    "--no-services", "--analytics-off"], log,
                   {"PREFECT_SERVER_DATABASE_CONNECTION_URL": db, "PREFECT_SERVER_UI_ENABLED": "true",
                    "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_API_URL": "",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/api/health", proc, log)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/runs/flow-run/{run_id}")
        text = _page_text(page, "pipeline [1/6] clean", "prefect-flow-run-logs")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "prefect-flow-run-logs.png"), full_page=True)
        assert "reflective-pipeline" in text or "pipeline [6/6] promote" in text

        page.goto(f"{base}/artifacts")
        text = _page_text(page, "promotion-decision", "prefect-artifacts")
        page.screenshot(path=str(SHOTS / "prefect-artifacts.png"), full_page=True)
        assert "evaluation-report" in text
        page.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)

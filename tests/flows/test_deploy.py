"""The scheduled deployment: cron checks, and a real Prefect server on 127.0.0.1 running one tiny pipeline."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import ConfigError
from components.registry.serving import free_port, wait_for_ping
from flows.deploy import check_cron, deployment_parameters

REPO = Path(__file__).resolve().parents[2]

TRIGGER = """
import sys, time
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

name, sources = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 180
with get_client(sync_client=True) as client:
    while True:
        try:
            dep = client.read_deployment_by_name(name)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit("deployment never appeared")
            time.sleep(1)
    print("CRON", dep.schedules[0].schedule.cron, dep.schedules[0].schedule.timezone, flush=True)
run = run_deployment(name, parameters={"sources": [sources]}, timeout=900)
print("STATE", run.state.type.value, flush=True)
# what the Prefect UI shows for the run: its logs (every stage's lines) and its artifacts
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId
# the runner ships its logs in batches: the last stages' lines may reach the server after the
# run is COMPLETED, so read until the final stage's line is there (or a minute has passed)
deadline = time.monotonic() + 60
with get_client(sync_client=True) as client:
    while True:
        runs = [run.id] + [r.id for r in client.read_flow_runs() if r.parent_task_run_id is not None]
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=runs)))
        if any(m.message.startswith("pipeline [6/6]") for m in logs) or time.monotonic() > deadline:
            break
        time.sleep(1)
    arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=runs)))
for line in sorted({m.message.splitlines()[0] for m in logs if m.message.startswith(("pipeline [", "evaluate:"))}):
    print("LOG", line, flush=True)
print("ARTIFACTS", sorted(a.key for a in arts if a.key), flush=True)
"""


def test_timezone_is_checked_with_a_one_line_error():
    from flows.deploy import check_timezone

    assert check_timezone("Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(ConfigError, match="--timezone 'Mars/Olympus': not a time zone name"):
        check_timezone("Mars/Olympus")


def test_cron_is_checked_with_a_one_line_error():
    assert check_cron("0 3 * * 1") == "0 3 * * 1"
    with pytest.raises(ConfigError, match="--cron 'every monday': not a cron expression"):
        check_cron("every monday")


def test_deployment_parameters_are_absolute(tmp_path):
    out = deployment_parameters(Path("params.yaml"), Path("."), None, tmp_path / "m")
    assert Path(out["params"]).is_absolute() and Path(out["workdir"]).is_absolute()
    assert out["model"] == str((tmp_path / "m").resolve()) and "tracking_uri" not in out


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.mark.integration
def test_deployment_on_a_real_prefect_server_runs_one_pipeline(tmp_path, tiny_dir):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_PORT": str(port), "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_BIN": str(Path(sys.executable).with_name("prefect")), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_NUM_THREADS": "1"}
    params = tmp_path / "params.yaml"
    shutil.copy(Path(__file__).with_name("tiny_params.yaml"), params)
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    with open(server_log, "wb") as log:
        server = subprocess.Popen([str(REPO / "infra" / "local" / "start_prefect.sh")], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    serve = None
    try:
        wait_for_ping(api, 180, server, server_log, path="/health")
        code = (f"from pathlib import Path; from flows.deploy import deploy; "
                f"deploy('0 3 * * 1', name='test', timezone='Europe/Berlin', params=Path({str(params)!r}), "
                f"workdir=Path({str(tmp_path / 'work')!r}), model=Path({str(tiny_dir)!r}))")
        with open(serve_log, "wb") as log:
            serve = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        trigger = subprocess.run([sys.executable, "-c", TRIGGER, "reflective-pipeline/test", "synthetic"], env=env,
                                 capture_output=True, text=True, timeout=1000)
        assert trigger.returncode == 0, trigger.stderr[-3000:] + serve_log.read_text()[-3000:]
        assert "CRON 0 3 * * 1 Europe/Berlin" in trigger.stdout
        assert "STATE COMPLETED" in trigger.stdout, serve_log.read_text()[-5000:]
        for stage in ("clean", "train", "evaluate", "promote"):       # the stages' lines in the run's logs
            assert any(ln.startswith("LOG pipeline [") and f"] {stage}: " in ln for ln in trigger.stdout.splitlines()), \
                trigger.stdout[-3000:]
        assert "LOG evaluate: synthetic: pass@1" in trigger.stdout, trigger.stdout[-3000:]   # a component's line
        assert "'evaluation-report'" in trigger.stdout and "'promotion-decision'" in trigger.stdout, trigger.stdout
        assert (tmp_path / "work" / "reports" / "eval" / "metrics.json").is_file()
    finally:
        if serve is not None:
            _stop(serve)
        _stop(server)

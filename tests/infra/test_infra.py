"""infra/: every config loads; the local server scripts and the CPU accelerate config really run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.registry.serving import free_port, wait_for_ping

INFRA = Path(__file__).resolve().parents[2] / "infra"


@pytest.mark.parametrize("name, kind, processes", [("ddp.yaml", "MULTI_GPU", 8), ("fsdp.yaml", "FSDP", 8),
                                                   ("cpu2.yaml", "MULTI_GPU", 2)])
def test_accelerate_configs_load_with_accelerate(name, kind, processes):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(INFRA / "accelerate" / name))
    assert cfg.distributed_type.value == kind and cfg.num_processes == processes
    if kind == "FSDP":
        assert cfg.fsdp_config["fsdp_version"] == 2
        assert cfg.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "Qwen2DecoderLayer"


def test_compose_publishes_on_loopback_only_and_uses_postgres():
    compose = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"postgres", "prefect", "mlflow"}
    for svc in ("prefect", "mlflow"):
        assert all(p.startswith("127.0.0.1:") for p in compose["services"][svc]["ports"])
    prefect_env = compose["services"]["prefect"]["environment"]
    assert prefect_env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert "--backend-store-uri postgresql://" in compose["services"]["mlflow"]["command"]
    assert compose["services"]["prefect"]["image"].startswith("prefecthq/prefect:3.8.8-")    # = pyproject pin


def test_k8s_templates_request_gpus():
    tmpl = json.loads((INFRA / "k8s" / "base-job-template.json").read_text())
    assert set(tmpl) == {"job_configuration", "variables"}
    container = tmpl["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "{{ gpus }}"
    assert tmpl["variables"]["properties"]["gpus"]["default"] == 1
    job = yaml.safe_load((INFRA / "k8s" / "gpu-stage-job.yaml").read_text())
    assert job["kind"] == "Job"
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 8


@pytest.mark.parametrize("script", ["start_mlflow.sh", "start_prefect.sh"])
def test_local_scripts_are_valid_bash_and_bind_loopback(script):
    path = INFRA / "local" / script
    assert os.access(path, os.X_OK)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert ":-127.0.0.1}" in path.read_text()


@pytest.mark.integration
def test_start_mlflow_serves_a_sql_store_on_loopback(tmp_path):
    port = free_port()
    env = {**os.environ, "MLFLOW_PORT": str(port), "MLFLOW_STORE": str(tmp_path / "store"),
           "MLFLOW_BIN": str(Path(sys.executable).with_name("mlflow"))}
    log = open(tmp_path / "mlflow.log", "wb")
    proc = subprocess.Popen([str(INFRA / "local" / "start_mlflow.sh")], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for_ping(f"http://127.0.0.1:{port}", 120, proc, tmp_path / "mlflow.log", path="/health")
        from mlflow import MlflowClient

        client = MlflowClient(f"http://127.0.0.1:{port}")
        exp = client.create_experiment("infra-check")
        run = client.create_run(exp)
        client.log_text(run.info.run_id, "hello", "note.txt")               # through the artifact proxy
        assert (tmp_path / "store" / "mlflow.db").is_file()
        assert list((tmp_path / "store" / "artifacts").rglob("note.txt"))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


@pytest.mark.integration
def test_cpu2_accelerate_config_runs_two_gloo_processes():
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("accelerate")), "launch", "--config_file",
         str(INFRA / "accelerate" / "cpu2.yaml"), str(Path(__file__).with_name("allreduce_check.py"))],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "world_size=2 sum=3 device=cpu backend=gloo" in proc.stdout

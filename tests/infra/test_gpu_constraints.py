"""The GPU environment resolves: `pip install -c constraints-gpu.txt -e '.[gpu]'` (metadata only).

pip is asked for a dry-run resolution with a JSON report. `--use-feature=fast-deps` reads each
wheel's metadata with HTTP range requests, so the multi-hundred-megabyte torch and vLLM wheels are
never downloaded even from an index that serves no separate metadata files; a run that starts
downloading a wheel larger than 50 MB is stopped and fails (a missing pin made pip search).
Skipped only when PyPI cannot be reached.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints-gpu.txt"
BIG_DOWNLOAD = re.compile(r"Downloading \S+\.whl \((\d+(?:\.\d+)?) ([kMG])B\)")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_norm(name)] = version.strip()
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_gpu_constraints_pin_what_the_extra_needs():
    pins = _pins(CONSTRAINTS)
    for name in ("vllm", "torch", "transformers", "prefect", "fastapi", "mlflow", "dvc", "great-expectations"):
        assert name in pins, f"constraints-gpu.txt must pin {name}"


@pytest.mark.integration
def test_gpu_environment_resolves_with_the_whole_pipeline(tmp_path):
    if not _pypi_reachable():
        pytest.skip("PyPI (https://pypi.org/simple/) is unreachable from here; this check needs it")
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--use-feature=fast-deps", "--progress-bar", "off", "--report", str(report),
           "-c", str(CONSTRAINTS), "-e", f"{ROOT}[gpu]"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        m = BIG_DOWNLOAD.search(line)
        if m and (m.group(2) == "G" or (m.group(2) == "M" and float(m.group(1)) > 50)):
            proc.kill()
            pytest.fail(f"pip started downloading a large wheel instead of reading its metadata: {line.strip()}")
    rc = proc.wait(timeout=60)
    tail = "".join(lines[-40:])
    assert rc == 0, f"constraints-gpu.txt no longer resolves with '.[gpu]':\n{tail}"
    installed = {_norm(item["metadata"]["name"]): item["metadata"]["version"]
                 for item in json.loads(report.read_text(encoding="utf-8"))["install"]}
    for name, version in _pins(CONSTRAINTS).items():
        if name in installed:
            assert installed[name] == version, f"{name}: resolved {installed[name]}, pinned {version}"
    for name in ("vllm", "torch", "prefect", "mlflow", "dvc", "great-expectations", "reflective-math"):
        assert name in installed, f"the GPU environment lacks {name}"


def test_image_and_readme_install_the_gpu_set_with_one_command():
    command = "pip install -c constraints-gpu.txt -e '.[gpu]'"
    docker = (ROOT / "infra" / "docker" / "gpu.Dockerfile").read_text(encoding="utf-8")
    assert command in docker and "constraints-gpu.txt" in docker.split("COPY", 2)[1]
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")

"""`dvc repro clean` on a copy of the repository, at a small size, then `dvc status` is clean."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from components.data.sources.files import REPO_ROOT

SMALL_CLEAN = {"target_size": 300, "pool": {"base_rows": 300, "exact_duplicates": 20, "near_duplicates": 20,
                                            "eval_copies": 8, "unverifiable": 8, "malformed": 8, "empty": 5,
                                            "too_long": 1},
               "eval_sets": {"heldout_n": 50}}


def _dvc(repo, *args):
    res = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"dvc {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


@pytest.mark.integration
def test_dvc_repro_clean_stage(tmp_path):
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for code in ("components", "flows"):
        shutil.copytree(REPO_ROOT / code, repo / code, ignore=ignore)
    for d in ("data/samples", "data/eval"):
        shutil.copytree(REPO_ROOT / d, repo / d)
    shutil.copy(REPO_ROOT / ".dvcignore", repo / ".dvcignore")
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["clean"].update(SMALL_CLEAN)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    clean = stages["stages"]["clean"]
    assert clean["cmd"].startswith("reflect clean ")
    # The stage as written, with `reflect` run as a module of this interpreter (same entry point).
    clean["cmd"] = clean["cmd"].replace("reflect clean", f"{sys.executable} -m flows.cli clean", 1)
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"clean": clean}}, sort_keys=False))

    _dvc(repo, "init", "--no-scm", "-q")
    _dvc(repo, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    _dvc(repo, "repro", "clean")
    report = json.loads((repo / "data" / "clean" / "report.json").read_text())
    assert report["rows_kept"] == 300 and report["rows_in"] == report["rows_kept"] + report["rows_rejected"]
    assert "up to date" in _dvc(repo, "status")
    assert "didn't change" in _dvc(repo, "repro", "clean") or "up to date" in _dvc(repo, "status")
    metrics = json.loads(_dvc(repo, "metrics", "show", "--json"))
    assert json.dumps(metrics).count('"rows_kept": 300') == 1
    _dvc(repo, "push")
    assert any((tmp_path / "remote").rglob("*"))
    # A params change makes the stage stale again.
    params["clean"]["target_size"] = 200
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "changed" in _dvc(repo, "status") or "modified" in _dvc(repo, "status")

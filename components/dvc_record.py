"""Record a `reflect run` in DVC's lock file, so `dvc status` is clean and `dvc metrics diff` works.

`dvc.yaml` describes the same stages as the Prefect pipeline (clean -> bootstrap -> train ->
evaluate). When a run made exactly those stages' outputs (the embedded default, the workdir's own
`params.yaml`, the default sources and eval sets), the pipeline publishes its trained model at
DVC's train path (`models/train/model`, with `train_metrics.json` and `score_gap.png`) and runs
`dvc commit`, DVC's command for "I ran the stages' commands myself": it hashes the deps, params and
outs into `dvc.lock` and the DVC cache. Any other run (a base model given, another params file or
sources) is not what `dvc.yaml` says, and is not recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from components.atomic import save_dir, write_with

TRAIN_FILES = ("train_metrics.json", "score_gap.png")     # beside the model in DVC's train stage


def not_recordable(workdir: Path, params: Path, base_model_given: bool, sources, eval_sets) -> str | None:
    """Why this run cannot be recorded as `dvc.yaml`'s stages, or None when it can."""
    if not (workdir / "dvc.yaml").is_file() or not (workdir / ".dvc").is_dir():
        return f"{workdir} is not a DVC project"
    if Path(params).resolve() != (workdir / "params.yaml").resolve():
        return f"the run read {params}, DVC's stages read {workdir / 'params.yaml'}"
    if base_model_given:
        return "a base model was given; DVC's stages bootstrap the embedded default"
    if sources or eval_sets:
        return "sources or eval sets were given; DVC's stages use the defaults"
    return None


def publish_train_outputs(train_dir: Path, train_root: Path) -> Path:
    """Copy the run's model and train files to DVC's train paths (`train_root/model`, ...)."""
    model = save_dir(train_root / "model", lambda d: shutil.copytree(train_dir / "model", d, dirs_exist_ok=True))
    for name in TRAIN_FILES:
        if (train_dir / name).is_file():
            write_with(train_root / name, lambda tmp, src=train_dir / name: shutil.copyfile(src, tmp))
    return model


def dvc_commit(workdir: Path) -> tuple[bool, str]:
    """`dvc commit --force` in `workdir`; (ok, DVC's last line when it failed)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([sys.executable, "-m", "dvc", "commit", "--force"], cwd=workdir, env=env,
                          capture_output=True, text=True)
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return proc.returncode == 0, (lines[-1] if lines else f"exit {proc.returncode}")

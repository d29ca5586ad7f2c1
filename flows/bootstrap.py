"""The bootstrap stage as a Prefect flow: the embedded default policy (tiny Qwen2 after SFT).

Thin: one task runs `components.training.bootstrap.run_bootstrap` with the `bootstrap` and `task`
sections of params.yaml. Only the embedded default needs it; a real checkpoint skips this stage.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from components.data.synthetic import TaskConfig
from components.training.bootstrap import BootstrapConfig, run_bootstrap
from components.pipeline_params import load_pipeline_params


@task(name="bootstrap", cache_policy=NO_CACHE)  # trains and writes a model directory
def bootstrap_task(out_dir: Path, cfg: BootstrapConfig, task_cfg: TaskConfig) -> dict:
    report = run_bootstrap(out_dir, cfg, task_cfg)
    return {k: v for k, v in report.items() if k != "config"}


@flow(name="bootstrap", log_prints=True)   # stage lines in the Prefect UI
def bootstrap_flow(out_dir: Path = Path("models/bootstrap"), params: Path = Path("params.yaml"),
                   steps: int | None = None) -> dict:
    """Bootstrap the tiny policy into `out_dir`; returns its report (pass@1, pass@N, seconds)."""
    p = load_pipeline_params(params)          # a missing file, an unknown section or key is refused
    cfg = p.bootstrap
    if steps is not None:
        cfg = replace(cfg, steps=steps)
    report = bootstrap_task(Path(out_dir), cfg, p.task)
    return {**report, "model_dir": str(out_dir)}

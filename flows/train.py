"""The training stage as a Prefect flow (docs/method.md section 3): joint GRPO + SPR training.

Thin: one task runs `components.training.trainer.run_train` with the `train` section of params.yaml
(MLflow run with per-step `train/*` and `train_time/*` metrics, the aha-step tag, the score-gap plot;
atomic checkpoints; `resume` continues from the newest one). No retries: training is math, not I/O.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from components.pipeline_params import load_pipeline_params
from components.training.config import TrainConfig, with_overrides
from components.training.progress import training_progress
from components.training.trainer import TrainResult, run_train
from components.tracking.store import DEFAULT_TRACKING_URI


@task(name="train", cache_policy=NO_CACHE)  # trains and writes checkpoints
def train_task(cfg: TrainConfig, model_dir: Path, data_path: Path, out_dir: Path, tracking_uri: str | None,
               resume: bool) -> TrainResult:
    with training_progress(cfg.steps) as on_step:
        return run_train(cfg, model_dir, data_path, out_dir, tracking_uri, resume, on_step=on_step)


@flow(name="train", log_prints=True)   # stage lines in the Prefect UI
def train_flow(model_dir: Path = Path("models/bootstrap"), data_path: Path = Path("data/clean/clean.parquet"),
               out_dir: Path = Path("models/train"), params: Path = Path("params.yaml"),
               tracking_uri: str | None = DEFAULT_TRACKING_URI, resume: bool = False,
               steps: int | None = None, loss: str | None = None) -> dict:
    """Train `model_dir` on `data_path` into `out_dir`; returns paths, run id, aha step and the summary.

    `steps` / `loss` (`spr` or `bce`, the paper's ablation) override the params file.
    """
    cfg = with_overrides(load_pipeline_params(params).train, steps, loss)   # missing file/unknown section refused
    result = train_task(cfg, Path(model_dir), Path(data_path), Path(out_dir), tracking_uri, resume)
    return {"model_dir": str(result.model_dir), "checkpoint": str(result.checkpoint), "steps": result.steps,
            "aha_step": result.aha_step, "run_id": result.run_id, "warnings": result.warnings,
            **{f"summary/{k}": v for k, v in result.summary.items()}}

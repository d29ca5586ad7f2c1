"""Shared output for benchmark scripts: JSON lines on stdout, optionally an MLflow run."""

from __future__ import annotations

import json
import os
import platform
import sys
import time


def machine() -> dict:
    """Facts that make a timing comparable: host, cores, load, torch threads."""
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"host": platform.node(), "cpus": os.cpu_count(), "load_avg_1m": load,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def emit(record: dict) -> None:
    """Print one JSON line and flush."""
    print(json.dumps(record), flush=True)


def log_to_mlflow(name: str, summary: dict, tracking_uri: str | None) -> None:
    """Log numeric figures of `summary` as metrics of a run named `name` (when a URI is given)."""
    if not tracking_uri:
        return
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("benchmarks")
    with mlflow.start_run(run_name=name):
        mlflow.log_metrics({k: float(v) for k, v in summary.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        mlflow.log_dict(summary, f"{name}.json")


if __name__ == "__main__":  # pragma: no cover
    emit(machine())
    sys.exit(0)

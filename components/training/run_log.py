"""Where a training run reports: an MLflow run (names under `train/` and `time/`), or nowhere.

Small objects behind one Protocol so the trainer never checks "is MLflow on?": `MlflowRunLog`
writes to a tracking store, `SilentRunLog` drops everything (tests, non-main processes).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol
from components.registry.store import ensure_experiment


class RunLog(Protocol):
    run_id: str | None

    def log_params(self, params: dict[str, Any]) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...
    def close(self, status: str = "FINISHED") -> None: ...


class SilentRunLog:
    """Logs nothing."""

    run_id: str | None = None

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        pass

    def close(self, status: str = "FINISHED") -> None:
        pass


class MlflowRunLog:
    """One MLflow run; `resume_run_id` continues an earlier run (a resumed training) when it exists."""

    def __init__(self, tracking_uri: str, experiment: str, run_name: str | None = None,
                 resume_run_id: str | None = None):
        import mlflow
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri)
        exp_id = ensure_experiment(tracking_uri, experiment)  # artifacts beside a local store
        run = None
        if resume_run_id:
            try:
                run = self._client.get_run(resume_run_id)
                self._client.update_run(resume_run_id, status="RUNNING")
            except mlflow.exceptions.MlflowException:
                run = None
        if run is None:
            run = self._client.create_run(exp_id, run_name=run_name)
        self.run_id: str | None = run.info.run_id
        self.resumed = resume_run_id is not None and run.info.run_id == resume_run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        if self.resumed:   # params are immutable in MLflow; the resumed run already has them
            return
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._client.log_batch(self.run_id, params=items[i:i + 100])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self._client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()
                 if v is not None and not math.isnan(float(v))]
        if items:
            self._client.log_batch(self.run_id, metrics=items)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._client.log_artifact(self.run_id, str(path), artifact_path)

    def close(self, status: str = "FINISHED") -> None:
        self._client.set_terminated(self.run_id, status=status)

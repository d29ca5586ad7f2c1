"""Where a training run reports: an MLflow run (names under `train/` and `train_time/`), or nowhere.

MLflow's run page lays charts out by section, sections and charts in alphabetical order. So that
the curves people open a training run for come first, the reward, score gap and SPRM AUROCs are
also logged under `headline/` (copies; `train/` keeps the full set).

Small objects behind one Protocol so the trainer never checks "is MLflow on?": `MlflowRunLog`
writes to a tracking store, `SilentRunLog` drops everything (tests, non-main processes). The
MLflow run also gets what its UI shows beside the metrics: the training set as a dataset input
(`log_dataset`, the Datasets column), figures (`log_figure`) and system metrics (CPU, memory,
GPU) sampled every `system_metrics_s` seconds while the run is open.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol
from components.tracking.store import ensure_experiment


# The first charts of the run page (`headline/` sorts before `train/`): {train metric: its copy}.
HEADLINE = {"train/reward_mean": "headline/reward_mean", "train/score_gap": "headline/score_gap",
            "train/sprm_auroc": "headline/sprm_auroc", "train/sprm_auroc_within": "headline/sprm_auroc_within"}


class RunLog(Protocol):
    run_id: str | None

    def log_params(self, params: dict[str, Any]) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...
    def log_figure(self, figure: Any, artifact_file: str) -> None: ...
    def log_dataset(self, path: Path, name: str, context: str, digest: str | None = None) -> None: ...
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

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        pass

    def log_dataset(self, path: Path, name: str, context: str, digest: str | None = None) -> None:
        pass

    def close(self, status: str = "FINISHED") -> None:
        pass


class MlflowRunLog:
    """One MLflow run; `resume_run_id` continues an earlier run (a resumed training) when it exists."""

    def __init__(self, tracking_uri: str, experiment: str, run_name: str | None = None,
                 resume_run_id: str | None = None, tags: dict[str, str] | None = None,
                 system_metrics_s: float = 10.0):
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
            run = self._client.create_run(exp_id, run_name=run_name, tags=tags)
        self.run_id: str | None = run.info.run_id
        self.resumed = resume_run_id is not None and run.info.run_id == resume_run_id
        self._monitor = None
        if system_metrics_s > 0:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self._monitor = SystemMetricsMonitor(self.run_id, sampling_interval=system_metrics_s,
                                                 resume_logging=self.resumed, tracking_uri=tracking_uri)
            self._monitor.start()

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
        shown = {**metrics, **{HEADLINE[k]: v for k, v in metrics.items() if k in HEADLINE}}
        items = [Metric(k, float(v), now, step) for k, v in shown.items()
                 if v is not None and not math.isnan(float(v))]
        if items:
            self._client.log_batch(self.run_id, metrics=items)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._client.log_artifact(self.run_id, str(path), artifact_path)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self._client.log_figure(self.run_id, figure, artifact_file)

    def log_dataset(self, path: Path, name: str, context: str, digest: str | None = None) -> None:
        """Record the Parquet file at `path` as this run's dataset input (`context`: training, evaluation)."""
        log_dataset(self._client, self.run_id, path, name, context, digest)

    def close(self, status: str = "FINISHED") -> None:
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None
        self._client.set_terminated(self.run_id, status=status)


def log_dataset(client: Any, run_id: str, path: Path, name: str, context: str, digest: str | None = None) -> None:
    """Log a Parquet file as a dataset input of run `run_id`: name, source, digest (the file's
    `md5:` data version when given), schema and row count show in MLflow's UI."""
    import mlflow.data
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    dataset = mlflow.data.from_pandas(pd.read_parquet(path), source=str(path), name=name,
                                      digest=digest.removeprefix("md5:")[:36] if digest else None)
    client.log_inputs(run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(),
                                                     tags=[InputTag("mlflow.data.context", context)])])

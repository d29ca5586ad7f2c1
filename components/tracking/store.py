"""Where a tracking store keeps things: artifact roots and the promotion lock file.

A local store (`sqlite:///mlflow/mlflow.db`) keeps its artifacts beside the database
(`mlflow/artifacts/`) instead of MLflow's default `./mlruns` in whatever directory a command
happened to run from; experiments are created with that artifact location.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

LOCK_NAME = "promote.lock"
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")   # the UI's "machine learning" kind
# The default run's local store (sqlite backend, artifacts in mlflow/artifacts): `make ui` opens it.
DEFAULT_TRACKING_URI = "sqlite:///mlflow/mlflow.db"


def env_tracking_uri(fallback: str | None = DEFAULT_TRACKING_URI) -> str | None:
    """`$MLFLOW_TRACKING_URI` when set (as MLflow users expect), else `fallback`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or fallback


def local_store_dir(tracking_uri: str) -> Path | None:
    """The directory holding a local store (sqlite database or file store); None for a server."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(unquote(tracking_uri[len("sqlite:///"):])).resolve().parent
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).resolve()
    if parsed.scheme == "" and tracking_uri:
        return Path(tracking_uri).resolve()
    return None


def artifact_location(tracking_uri: str) -> str | None:
    """`file://<store dir>/artifacts` for a sqlite store; None (the server's default) otherwise."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (local_store_dir(tracking_uri) / "artifacts").as_uri()


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """The id of experiment `name`, created (with the store's artifact location) when missing.

    It is marked a model-training experiment (`mlflow.experimentKind`), so MLflow's UI opens it on
    runs and their charts rather than on GenAI traces.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if EXPERIMENT_KIND[0] not in exp.tags:
            client.set_experiment_tag(exp.experiment_id, *EXPERIMENT_KIND)
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(tracking_uri),
                                        tags=dict([EXPERIMENT_KIND]))
    except MlflowException:            # created meanwhile by a concurrent process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def lock_path(tracking_uri: str, model_name: str) -> Path:
    """The promotion lock file: beside a local store, else one per (server, model) in the temp dir.

    A server URI's lock only serialises promotions started from this host (documented in
    infra/README.md); several hosts promoting at once need the lock on a shared filesystem.
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    store = local_store_dir(tracking_uri)
    if store is not None:
        return store / f"{safe}.{LOCK_NAME}"
    digest = hashlib.sha256(tracking_uri.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"reflective-{digest}-{safe}.{LOCK_NAME}"

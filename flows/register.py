"""The register stage as a Prefect flow: a checkpoint becomes a new registered version (`challenger`).

Thin: one task runs `components.registry.pyfunc.register_model` (pyfunc with policy, head and
tokenizer; signature with per-request params; tags for data version, git commit, training run and
aha step). Retried only when the registry is unreachable.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from components.pipeline_params import load_pipeline_params
from components.tracking.lineage import git_commit
from components.registry.pyfunc import RegisterConfig, register_model
from components.tracking.store import DEFAULT_TRACKING_URI
from flows.registry_io import REGISTRY_RETRIES, REGISTRY_RETRY_DELAY_S, registry_io_only


@task(name="register", cache_policy=NO_CACHE, retries=REGISTRY_RETRIES, retry_delay_seconds=REGISTRY_RETRY_DELAY_S,
      retry_condition_fn=registry_io_only)
def register_task(model_dir: Path, name: str, tracking_uri: str, tags: dict[str, str], cfg: RegisterConfig) -> str:
    return register_model(model_dir, name, tracking_uri, tags, cfg)


@flow(name="register", log_prints=True)   # stage lines in the Prefect UI
def register_flow(model_dir: Path, params: Path = Path("params.yaml"), tracking_uri: str = DEFAULT_TRACKING_URI,
                  name: str | None = None, tags: dict[str, str] | None = None) -> dict:
    """Register `model_dir` under `name` (default register.name) with alias `challenger`; returns name and version."""
    p = load_pipeline_params(params)          # a missing file, an unknown section or key is refused
    cfg = replace(p.register, serving=p.register.serving.resolved(p.evaluate.max_n))   # default cap on N
    all_tags = {"git_commit": git_commit(Path(__file__).resolve().parents[1]), **(tags or {})}
    version = register_task(Path(model_dir), name or cfg.name, tracking_uri, all_tags, cfg)
    return {"name": name or cfg.name, "version": version, "alias": cfg.alias}

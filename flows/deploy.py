"""Run the pipeline on a schedule: a Prefect deployment served by this process (`flow.serve`).

    reflect deploy --cron "0 3 * * 1"          # every Monday 03:00 UTC
    reflect deploy --cron "0 3 * * 1" --timezone Europe/Berlin

`deploy(cron)` creates (or updates) the deployment `reflective-pipeline/<name>` with that cron
schedule on the Prefect API named by `PREFECT_API_URL` (`infra/local/start_prefect.sh` starts a
server on 127.0.0.1:4200), then stays in the foreground as the runner that executes the scheduled
runs: `flow.serve` needs no work pool and no worker. Ctrl-C stops it and pauses the schedule.
Trigger a run by hand with `prefect deployment run 'reflective-pipeline/<name>'` (parameters with
`--param key=value`). Without `PREFECT_API_URL` Prefect starts a temporary local server that
lives only as long as this process.

For a cluster, the same flow is deployed to a Kubernetes work pool instead (`infra/k8s/`).
"""

from __future__ import annotations

import os
from pathlib import Path

from components.config import ConfigError
from components.pipeline_params import load_pipeline_params
from flows.pipeline import pipeline

DEPLOYMENT_NAME = "weekly"


def check_cron(cron: str) -> str:
    """Refuse a malformed cron expression with one line (Prefect's own error is a pydantic dump)."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError:
        raise ConfigError(f"--cron {cron!r}: not a cron expression (five fields, e.g. \"0 3 * * 1\" = "
                          "Mondays 03:00)") from None
    return cron


def check_timezone(tz: str) -> str:
    """Refuse an unknown IANA time zone name with one line."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--timezone {tz!r}: not a time zone name (IANA names such as UTC, Europe/Berlin, "
                          "America/New_York)") from None
    return tz


def deployment_parameters(params: Path, workdir: Path, tracking_uri: str | None, model: Path | None) -> dict:
    """The scheduled runs' default parameters (absolute paths: the runner may start elsewhere)."""
    out: dict = {"params": str(Path(params).resolve()), "workdir": str(Path(workdir).resolve())}
    if tracking_uri:
        out["tracking_uri"] = tracking_uri
    if model is not None:
        out["model"] = str(Path(model).resolve())
    return out


def deploy(cron: str, name: str = DEPLOYMENT_NAME, params: Path = Path("params.yaml"), workdir: Path = Path("."),
           tracking_uri: str | None = None, model: Path | None = None, limit: int = 1,
           timezone: str = "UTC") -> None:
    """Create deployment `reflective-pipeline/<name>` on `cron` (read in `timezone`) and serve it until
    interrupted."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    check_cron(cron)
    check_timezone(timezone)
    load_pipeline_params(params)                 # a bad params file fails now, not at 03:00 on Monday
    api = os.environ.get("PREFECT_API_URL")
    print(f"deploy: reflective-pipeline/{name} on cron {cron!r} ({timezone}) at {api or 'a temporary local Prefect server'}"
          " (Ctrl-C stops serving and pauses the schedule)", flush=True)
    pipeline.serve(name=name, schedules=[Cron(cron, timezone=timezone)], parameters=deployment_parameters(params, workdir, tracking_uri, model),
                   tags=["reflective-math"], limit=limit, pause_on_shutdown=True,
                   entrypoint_type=EntrypointType.MODULE_PATH,
                   description="clean -> bootstrap -> train -> register -> evaluate -> promote")

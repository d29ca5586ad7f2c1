"""Serve a registered model with MLflow's scoring server, bound to 127.0.0.1 by default.

`mlflow models serve -m models:/reflective-math@champion --env-manager local` loads the pyfunc
(components/registry/pyfunc.py) in this environment and answers `POST /invocations`; each request
sets its own effort:

    curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' \\
      -d '{"dataframe_records": [{"problem": "Compute (3 + 4) * 2."}], "params": {"effort": "low"}}'

`start_server` runs that command as a child process (own process group, log to a file) and waits
for `GET /ping` with a bounded timeout; a server that dies or never answers raises `ServeError`
with the tail of its log instead of hanging.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"


class ServeError(RuntimeError):
    """The scoring server did not come up or did not answer; the message says why."""


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def model_uri(name: str, alias: str = "champion") -> str:
    """`models:/<name>@<alias>`, or `models:/<name>/<version>` when `alias` is a number."""
    return f"models:/{name}/{alias}" if str(alias).isdigit() else f"models:/{name}@{alias}"


def serve_command(uri: str, host: str = DEFAULT_HOST, port: int = 5001, workers: int = 1,
                  request_timeout_s: int = 300) -> list[str]:
    """The `mlflow models serve` command line, run by this interpreter (`--env-manager local`)."""
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
            "-h", host, "-p", str(port), "-w", str(workers), "-t", str(request_timeout_s)]


def server_env(tracking_uri: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: this interpreter's bin dir first on PATH (MLflow execs `uvicorn`)."""
    env = {**os.environ, **(extra or {})}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


@dataclass
class ServerProcess:
    """A running scoring server; `stop()` ends its whole process group."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
            except ProcessLookupError:
                pass
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def log_tail(path: Path, lines: int = 20) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def wait_for_ping(url: str, timeout_s: float, process: subprocess.Popen | None = None,
                  log_path: Path | None = None, path: str = "/ping") -> None:
    """Poll `url + path` until it answers 200, the process exits, or `timeout_s` passes."""
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServeError(f"server exited with code {process.returncode} before answering {path}:\n"
                             f"{log_tail(log_path) if log_path else ''}")
        try:
            if requests.get(url + path, timeout=2).status_code == 200:
                return
        except requests.exceptions.RequestException:
            pass
        time.sleep(0.5)
    raise ServeError(f"{url}{path} did not answer within {timeout_s:g}s"
                     + (f"; server log {log_path}:\n{log_tail(log_path)}" if log_path else ""))


def start_server(uri: str, tracking_uri: str | None, port: int | None = None, host: str = DEFAULT_HOST,
                 timeout_s: float = 180.0, log_path: Path | str | None = None,
                 env: Mapping[str, str] | None = None) -> ServerProcess:
    """Start `mlflow models serve` for `uri` and return once `/ping` answers (bounded by `timeout_s`)."""
    port = port or free_port(host)
    log_path = Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix="reflect-serve-")) / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = server_env(tracking_uri, env)
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(serve_command(uri, host, port), stdout=log_file, stderr=subprocess.STDOUT,
                                env=child_env, start_new_session=True)
    server = ServerProcess(proc, f"http://{host}:{port}", log_path)
    try:
        wait_for_ping(server.url, timeout_s, proc, log_path)
    except BaseException:
        server.stop()
        raise
    return server


def invoke(url: str, problems: Sequence[str], params: Mapping[str, Any] | None = None,
           timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """POST problems to a scoring server's `/invocations`; returns one dict per problem."""
    import requests

    payload = {"dataframe_records": [{"problem": p} for p in problems], "params": dict(params or {})}
    resp = requests.post(url.rstrip("/") + "/invocations", data=json.dumps(payload),
                         headers={"Content-Type": "application/json"}, timeout=timeout_s)
    if resp.status_code != 200:
        raise ServeError(f"{url}/invocations answered HTTP {resp.status_code}: {resp.text[:500]}")
    body = resp.json()
    return body["predictions"] if isinstance(body, dict) and "predictions" in body else body


def serve_foreground(uri: str, tracking_uri: str | None, host: str = DEFAULT_HOST, port: int = 5001) -> int:
    """Run the scoring server in the foreground until interrupted (`reflect serve`); returns its exit code."""
    env = server_env(tracking_uri)
    print(f"serve: {uri} on http://{host}:{port}/invocations (Ctrl-C stops)", flush=True)
    try:
        return subprocess.call(serve_command(uri, host, port), env=env)
    except KeyboardInterrupt:
        return 130

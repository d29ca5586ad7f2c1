"""Talking to the tracking/registry store: fail fast and clearly when a server is down.

MLflow's own client retries an unreachable server for minutes (7 retries with backoff by default)
before it says anything. Registry work here first checks an `http(s)://` server's `/health` with a
short timeout, retries a bounded number of times, and then raises `RegistryUnavailableError` with
one line saying which server and how to start one. File and sqlite stores need no server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from components.console import say

T = TypeVar("T")


class RegistryUnavailableError(ConnectionError):
    """The tracking/registry server did not answer; the message names it and what to do."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for registry I/O: `attempts` tries, `wait_s` apart, `timeout_s` per probe."""

    attempts: int = 3
    wait_s: float = 2.0
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.wait_s < 0 or self.timeout_s <= 0:
            raise ValueError(f"retry policy needs attempts >= 1, wait_s >= 0, timeout_s > 0; got {self}")


def is_server_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def unavailable_message(uri: str, attempts: int, cause: object) -> str:
    return (f"MLflow tracking server {uri} is not reachable after {attempts} attempt(s) ({cause}); "
            "start it (infra/local/start_mlflow.sh) or point --tracking-uri / MLFLOW_TRACKING_URI "
            "at a running server or a local store such as sqlite:///mlflow/mlflow.db")


def is_connection_error(exc: BaseException) -> bool:
    """True for an unreachable server (refused, timed out, DNS), False for a real registry error."""
    import requests

    from components.tracking.locks import LockTimeoutError

    if isinstance(exc, LockTimeoutError):      # another writer holds the lock: the server is fine
        return False
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError,
                        TimeoutError)):
        return True
    text = str(exc)
    return "API request to" in text and any(s in text for s in (
        "Max retries exceeded", "Connection refused", "timed out", "Failed to establish", "Read timed out",
        "RemoteDisconnected", "Connection aborted"))


def ensure_reachable(tracking_uri: str, policy: RetryPolicy = RetryPolicy(),
                     log: Callable[[str], None] = say) -> None:
    """Probe `<uri>/health` for server URIs; raise `RegistryUnavailableError` after `policy.attempts`."""
    if not is_server_uri(tracking_uri):
        return
    import requests

    cause: object = None
    for attempt in range(1, policy.attempts + 1):
        try:
            resp = requests.get(tracking_uri.rstrip("/") + "/health", timeout=policy.timeout_s)
            if resp.status_code < 500:
                return
            cause = f"HTTP {resp.status_code}"
        except requests.exceptions.RequestException as exc:
            cause = exc.__class__.__name__
        if attempt < policy.attempts:
            log(f"registry: {tracking_uri} not reachable ({cause}); retry {attempt}/{policy.attempts - 1} "
                f"in {policy.wait_s:g}s")
            time.sleep(policy.wait_s)
    raise RegistryUnavailableError(unavailable_message(tracking_uri, policy.attempts, cause))


def with_retries(call: Callable[[], T], tracking_uri: str, policy: RetryPolicy = RetryPolicy(),
                 log: Callable[[str], None] = say) -> T:
    """Run `call()` (registry I/O), retrying only an unreachable server; other errors propagate at once.

    Each attempt first probes the server once (`ensure_reachable` with one attempt), so a server
    that is down costs `attempts x (timeout_s + wait_s)` at most, not MLflow's minutes of backoff.
    """
    probe = RetryPolicy(attempts=1, wait_s=0.0, timeout_s=policy.timeout_s)
    cause: object = None
    for attempt in range(1, policy.attempts + 1):
        try:
            ensure_reachable(tracking_uri, probe, log)
            return call()
        except RegistryUnavailableError:
            cause = "no answer to /health"
        except Exception as exc:  # noqa: BLE001 - only connection errors are retried, the rest re-raised
            if not is_connection_error(exc):
                raise
            cause = exc.__class__.__name__
        if attempt < policy.attempts:
            log(f"registry: {tracking_uri} not reachable ({cause}); retry {attempt}/{policy.attempts - 1} "
                f"in {policy.wait_s:g}s")
            time.sleep(policy.wait_s)
    raise RegistryUnavailableError(unavailable_message(tracking_uri, policy.attempts, cause))

"""Retry rule shared by the registry-facing tasks: retry a registry that is down, nothing else.

The components already retry a few seconds apart (`RetryPolicy`); the Prefect task retry covers a
longer outage (a restarting tracking server). A wrong model directory, a bad config or a failed gate
is never retried: it fails the flow at once with its own message.
"""

from __future__ import annotations

from components.tracking.connection import RegistryUnavailableError

REGISTRY_RETRIES = 1
REGISTRY_RETRY_DELAY_S = 10


def registry_io_only(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`: True only when the task failed on an unreachable registry."""
    try:
        state.result()
    except RegistryUnavailableError:
        return True
    except BaseException:  # noqa: BLE001 - any other failure is final
        return False
    return False

"""The default `log` of every long-running component: a line on stdout, looked up at call time.

Defaults of `log=print` would bind the original `print` when the module is imported, so Prefect's
`log_prints` (which patches `print` inside a flow run) would never see those lines and the Prefect
UI would show no logs. `say` calls whatever `print` is current.
"""

from __future__ import annotations


def say(message: str) -> None:
    print(message, flush=True)

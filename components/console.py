"""The default `log` of every long-running component: a progress line, looked up at call time.

Inside a Prefect flow run (and by default) `say` calls whatever `print` is current: defaults of
`log=print` would bind the original `print` when the module is imported, so Prefect's `log_prints`
(which patches `print` inside a flow run) would never see those lines and the Prefect UI would show
no logs. The `reflect` CLI's own commands call `log_to_stderr` first: the lines then go through the
`reflect` logger to stderr (`-q` keeps warnings only, `-v` adds debug lines), so stdout holds only
the command's result (`reflect train ... | jq` works).
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("reflect")
_to_logger = False
_quiet = False


def say(message: str) -> None:
    """One progress line; a line whose text after `stage: ` starts with WARNING is a warning."""
    if not _to_logger:
        print(message, flush=True)
        return
    _, _, rest = message.partition(": ")
    LOGGER.log(logging.WARNING if rest.startswith("WARNING") else logging.INFO, message)


def bars_disabled() -> bool | None:
    """tqdm's `disable` for every progress bar: True under `-q`, else None (a bar on a terminal only)."""
    return True if _quiet else None


class _Stderr(logging.Handler):
    """Writes to the current `sys.stderr` (looked up per record, as pytest's capture swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:                        # noqa: BLE001 - logging must not raise
            self.handleError(record)


def log_to_stderr(level: int = logging.INFO) -> None:
    """Route `say` through the `reflect` logger, one plain line per record on stderr; above INFO
    (`-q`) progress bars are off too."""
    global _to_logger, _quiet
    _to_logger, _quiet = True, level > logging.INFO
    if not any(isinstance(h, _Stderr) for h in LOGGER.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    LOGGER.propagate = False


def print_to_stdout() -> None:
    """Undo `log_to_stderr` (the CLI calls it on the way out, so an in-process caller gets `print` back)."""
    global _to_logger, _quiet
    _to_logger, _quiet = False, False

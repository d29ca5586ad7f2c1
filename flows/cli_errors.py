"""How the `reflect` CLI reports errors: bad input and unavailable resources in one line.

Exit codes: 2 for bad input (an argument, a params file, a file or directory or registry entry
named that is missing or malformed: `exit_code`), 1 for a run that failed (training diverged, a
registry that does not answer, a lock someone else holds), 130/143 for Ctrl-C/SIGTERM.

`reported(exc)` says which exceptions are told in one line (the rest keep their traceback). For
the commands that run Prefect flows, Prefect's console handler would print the same error again
with its traceback; `prefect_console` drops that traceback on the console only (and sets the
console's level for `-q`/`-v`).
"""

from __future__ import annotations

import logging

FLOW_COMMANDS = {"register", "promote", "run", "deploy"}     # the commands that run Prefect flows


class NoTracebackForReported(logging.Filter):
    """On the console only, an error this CLI reports in one line loses Prefect's traceback (the
    API handler has already sent the record, traceback included, to the Prefect UI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and reported(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
        return True


def prefect_console(drop_tracebacks: bool = True, level: int | None = None) -> None:
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            if drop_tracebacks:
                handler.addFilter(NoTracebackForReported())
            if level is not None:            # -q/-v: the console only; the Prefect UI still gets every line
                handler.setLevel(level)


def setup_console(command: str, quiet: bool, verbose: bool, debug: bool) -> None:
    """Where a command's progress lines go: Prefect's logs (stderr and the UI) for the flow commands,
    else the `reflect` logger on stderr, so stdout holds only the result. `-q`: warnings only."""
    from components.console import log_to_stderr

    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    if command in FLOW_COMMANDS:
        prefect_console(drop_tracebacks=not debug, level=None if level == logging.INFO else level)
    else:
        log_to_stderr(level)


def key_value(text: str) -> tuple[str, str]:
    """`--tag KEY=VALUE` parsed; anything else refused in one line."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--tag expects KEY=VALUE, got {text!r}")
    return key, value


def reported(exc: BaseException) -> bool:
    """Bad input and unavailable resources, told in one line: our errors (ValueError, OSError,
    RuntimeError and their kinds) and MLflow's (an unknown version, a refused request)."""
    return isinstance(exc, (ValueError, OSError, RuntimeError)) or any(
        c.__name__ == "MlflowException" for c in type(exc).__mro__)


def exit_code(exc: BaseException) -> int:
    """2 when the input was wrong (fix the command or its files), 1 when the run itself failed.

    >>> exit_code(ValueError("bad")), exit_code(FileNotFoundError("x")), exit_code(RuntimeError("diverged"))
    (2, 2, 1)
    >>> exit_code(ConnectionError("server down")), exit_code(PermissionError("read-only"))
    (1, 1)
    """
    if any(c.__name__ == "MlflowException" for c in type(exc).__mro__):
        return 2 if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") else 1
    return 2 if isinstance(exc, (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError)) else 1

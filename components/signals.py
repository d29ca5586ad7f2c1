"""SIGTERM routed like Ctrl-C: a Prefect cancel or a Kubernetes eviction ends a run the way a user's
Ctrl-C does (training checkpoints the step in flight, MLflow runs end as KILLED, temp outputs are
removed) instead of killing the process mid-write."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

SIGTERM_EXIT = 128 + signal.SIGTERM            # the shell's code for "ended by SIGTERM" (143)


def raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def route_sigterm() -> Callable[[], None]:
    """Raise KeyboardInterrupt on SIGTERM until the returned undo is called (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def interrupt_exit_code(exc: KeyboardInterrupt) -> int:
    """143 for an interrupt raised by SIGTERM, 130 (Ctrl-C) otherwise."""
    return SIGTERM_EXIT if str(exc) == f"signal {signal.SIGTERM}" else 130


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, so a checkpoint never sees a half-applied update."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            raise_interrupt(caught[0], None)

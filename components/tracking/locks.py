"""An exclusive inter-process lock on a file (`filelock`, a kernel `flock` on POSIX), with a bounded wait.

Two promotions at once (two processes, one registry) must not both read the same champion and
both move the alias: whoever holds the lock reads, decides and writes; the other waits, then sees
the new champion. Two pipeline runs in one working directory, or two trainings into one output
directory, must not share temp names and checkpoints: the second is refused at once (`timeout_s=0`).
The kernel drops the lock when its holder exits, even on a crash (no stale lock file to delete).
The holder writes its PID into the file (filelock's `on_acquired`, on the locked descriptor), so the
refusal names it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout


class LockTimeoutError(RuntimeError):
    """The lock was held by someone else for longer than the wait allowed; the message names the file.

    Not a `TimeoutError`: a busy lock is not an unreachable server, and must never be retried as one.
    """


@contextlib.contextmanager
def exclusive_lock(path: Path | str, timeout_s: float = 120.0, poll_s: float = 0.05,
                   busy: str = "wait for that promotion to finish and run again") -> Iterator[Path]:
    """Hold an exclusive `flock` on `path` (created if missing) inside the `with` block.

    After `timeout_s` (0: at once) of someone else holding it, raise `LockTimeoutError` naming the
    file and the holder's PID, followed by `busy` (what to do).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=timeout_s, poll_interval=poll_s, fallback_to_soft=False,
                    preserve_lock_file=True, on_acquired=_write_pid)
    try:
        lock.acquire()
    except Timeout:
        holder = path.read_text(encoding="utf-8", errors="replace").strip() or "?"
        raise LockTimeoutError(f"{path}: still held by process {holder} after {timeout_s:g}s; {busy}") from None
    try:
        yield path
    finally:
        lock.release()


def _write_pid(fd: int) -> None:
    """The holder's PID, in place of the last holder's (the lock file is kept between holders)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

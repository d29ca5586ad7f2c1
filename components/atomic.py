"""Atomic outputs: a file or a whole directory of files appears complete or not at all.

Every writer in the project goes through here, so a crash, a kill or a full disk leaves either the
previous output or the new one, never half of each:

- `write_bytes` / `write_text` / `write_with`: a temp sibling (`.<name>.tmp-<pid>`), fsynced,
  renamed over the target, then the directory fsynced so the rename itself survives a power cut.
- `staged_dir`: a stage's outputs (clean: `clean.parquet`, `rejected.parquet`, `report.json`;
  evaluate: `metrics.json`, `details.json`, `report.md`, `plots/`) are written into a temp sibling
  directory and renamed over the output directory as one, so a reader never sees a new
  `clean.parquet` beside an old `report.json`. Files in the output directory that are not the
  stage's own (DVC's `.gitignore`, a user's notes) are carried over; a foreign sub-directory is
  refused, since swapping it would move data the stage does not own.
- `sweep_stale`: temp entries left by killed processes (`.<name>.tmp-<pid>` / `.old-<pid>` whose
  process is gone) are removed before a new write; a live process's temps are left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

_TEMP = re.compile(r"^\..+\.(?:tmp|old)-(\d+)$")


def fsync_dir(path: Path | str) -> None:
    """Make the renames inside `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(path: Path, kind: str = "tmp") -> Path:
    """The temp sibling of `path` owned by this process: `.<name>.<kind>-<pid>`."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                  # exists, owned by someone else
        return True
    return True


def sweep_stale(parent: Path | str) -> list[Path]:
    """Remove temp entries in `parent` left by processes that no longer run; returns what went."""
    parent = Path(parent)
    gone: list[Path] = []
    if not parent.is_dir():
        return gone
    for entry in parent.iterdir():
        m = _TEMP.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        gone.append(entry)
    return gone


def write_with(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp_path)`, then fsync and rename it over `path` (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    tmp = temp_name(path)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_bytes(path: Path | str, data: bytes) -> Path:
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def _fsync_tree(root: Path) -> None:
    for f in root.rglob("*"):
        if f.is_file() and not f.is_symlink():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    for d in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fsync_dir(d)


def replace_dir(tmp: Path, out_dir: Path) -> Path:
    """Rename the complete directory `tmp` over `out_dir`; the old one is removed only afterwards."""
    _fsync_tree(tmp)
    old = temp_name(out_dir, "old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    fsync_dir(out_dir.parent)
    shutil.rmtree(old, ignore_errors=True)
    return out_dir


def _fresh_temp_dir(out_dir: Path) -> Path:
    """An empty temp sibling of `out_dir` owned by this process, after sweeping dead runs' temps."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(out_dir.parent)
    tmp = temp_name(out_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def save_dir(out_dir: Path | str, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp_dir)`, then move `tmp_dir` over `out_dir` (nothing of the old one is kept)."""
    out_dir = Path(out_dir)
    tmp = _fresh_temp_dir(out_dir)
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return replace_dir(tmp, out_dir)


class StagedDir:
    """A stage's output directory being written; `commit()` renames it over the real one."""

    def __init__(self, out_dir: Path, tmp: Path, owned: frozenset[str]):
        self.out_dir, self.path, self.owned = out_dir, tmp, owned
        self.committed = False

    def final(self, p: Path | str) -> Path:
        """Where `p` (a path under the staging directory) lives once committed."""
        return self.out_dir / Path(p).relative_to(self.path)

    def commit(self) -> Path:
        if self.out_dir.is_dir():
            for entry in self.out_dir.iterdir():          # carry over what is not ours
                if entry.name in self.owned or (self.path / entry.name).exists():
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    raise FileExistsError(f"{entry}: not an output of this stage; give the stage an output "
                                          "directory of its own")
                try:
                    os.link(entry, self.path / entry.name, follow_symlinks=False)
                except OSError:
                    shutil.copy2(entry, self.path / entry.name, follow_symlinks=False)
        replace_dir(self.path, self.out_dir)
        self.committed = True
        return self.out_dir


def check_own_dir(out_dir: Path, owned: Iterable[str], flag: str = "--out") -> None:
    """Refuse, before any work, an output directory holding a sub-directory the stage does not own."""
    owned = set(owned)
    if Path(out_dir).is_dir():
        for entry in Path(out_dir).iterdir():
            if entry.is_dir() and not entry.is_symlink() and entry.name not in owned:
                raise FileExistsError(f"{flag} {out_dir}: holds {entry.name}/, which is not an output of this "
                                      "stage; give the stage an output directory of its own")


@contextlib.contextmanager
def staged_dir(out_dir: Path | str, owned: Iterable[str]) -> Iterator[StagedDir]:
    """Stage the outputs `owned` (names directly under `out_dir`); committed when the block ends
    without an error (or earlier by `commit()`), discarded on an error before that."""
    out_dir = Path(out_dir)
    owned = frozenset(owned)
    check_own_dir(out_dir, owned)
    tmp = _fresh_temp_dir(out_dir)
    staged = StagedDir(out_dir, tmp, owned)
    try:
        yield staged
        if not staged.committed:
            staged.commit()
    finally:
        if not staged.committed:
            shutil.rmtree(tmp, ignore_errors=True)

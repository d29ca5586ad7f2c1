"""Where a model came from: content digests of data and model directories, the git commit.

These strings become registry tags (data version, git commit) and the cache keys of the pipeline's
stages (a stage re-runs only when a digest of what it reads changes). Digests are over file
contents, never timestamps, so a copy of the same files has the same digest.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def file_digest(path: Path | str) -> str:
    """`md5:<hex>` of one file's bytes (the form the training run's `data_version` tag uses)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (cannot compute its data version)")
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return f"md5:{h.hexdigest()}"


def dir_digest(path: Path | str, suffixes: tuple[str, ...] | None = None) -> str:
    """`md5:<hex>` over every file's relative path and bytes under `path` (sorted).

    Hidden files and `__pycache__` are skipped; `suffixes` (e.g. `(".py",)`) keeps only those files.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: directory not found (cannot compute its digest)")
    h = hashlib.md5()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if suffixes is not None and f.suffix not in suffixes:
            continue
        h.update(str(rel.as_posix()).encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return f"md5:{h.hexdigest()}"


def value_digest(value: Any) -> str:
    """Short stable digest of a config dataclass / dict / list / scalar (JSON, sorted keys).

    >>> value_digest({"b": 1, "a": [1, 2]}) == value_digest({"a": [1, 2], "b": 1})
    True
    """
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    text = json.dumps(plain(value), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def git_commit(repo: Path | str = ".") -> str:
    """The checked-out commit of `repo` (`<sha>` or `<sha>-dirty`), or `unknown` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def inputs_digest(inputs: dict[str, Any]) -> str:
    """Digest of a stage's inputs: paths by content (file or directory), everything else by value.

    A missing path counts as the value `missing:<path>`, so creating it changes the digest.
    """
    resolved: dict[str, Any] = {}
    for key, value in sorted(inputs.items()):
        if isinstance(value, Path):
            resolved[key] = (dir_digest(value) if value.is_dir() else file_digest(value) if value.is_file()
                             else f"missing:{value}")
        else:
            resolved[key] = value
    return value_digest(resolved)


def module_files(entry_modules: tuple[str, ...] | list[str], root: Path) -> list[Path]:
    """The source files of `entry_modules` and of every `components` module they import, transitively.

    Imports inside functions count (a lazy import is still code the stage runs), and so does each
    imported package's `__init__.py`. `root` is the directory holding `components/`.
    """
    def files_of(module: str) -> list[Path]:
        parts = module.split(".")
        found = [root.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts) + 1)]
        found.append(root.joinpath(*parts).with_suffix(".py"))
        return [f for f in found if f.is_file()]

    seen: set[Path] = set()
    todo = list(entry_modules)
    while todo:
        for f in files_of(todo.pop()):
            if f in seen:
                continue
            seen.add(f)
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    todo += [a.name for a in node.names if a.name.startswith("components")]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("components"):
                    todo += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return sorted(seen)


def code_digest(entry_modules: tuple[str, ...] | list[str], root: Path) -> str:
    """`md5:<hex>` over the relative paths and bytes of `module_files(entry_modules, root)`: part of
    a stage's cache key, so editing any module the stage runs re-runs it (and nothing else does)."""
    h = hashlib.md5()
    for f in module_files(entry_modules, root):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return f"md5:{h.hexdigest()}"

"""Reading local record files line by line without ever crashing on a bad record.

Formats: JSONL (`.jsonl`, `.ndjson`), gzip JSONL (`.jsonl.gz`), a JSON array (`.json`) and
Parquet (`.parquet`). Each record comes back as `(line, record, error)`: `line` is the 1-based
line number (JSONL) or row index (JSON array, Parquet), `record` a dict when it could be read,
`error` a one-line description when it could not (truncated JSON, invalid UTF-8, not an object).
A UTF-8 BOM and CRLF line ends are accepted; blank lines are skipped (they hold no record).

A file that is missing or cannot be opened at all raises `SourceError` with a one-line message
naming it; everything inside a readable file is reported per record.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

Record = tuple[int, dict[str, Any] | None, str | None]

_BOM = b"\xef\xbb\xbf"
# The checkout this code lives in: bundled data paths in params.yaml are relative to it.
REPO_ROOT = Path(__file__).resolve().parents[3]


class SourceError(ValueError):
    """A source that cannot be read at all; the message names it and says what to do."""


def bundled_path(path: str | Path) -> Path:
    """A path from params.yaml: absolute as is, relative to the repository root otherwise."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def parse_json_lines(lines: Iterable[bytes]) -> Iterator[Record]:
    """Parse raw JSONL lines (bytes, with or without line ends) into records, one per line."""
    for line_no, raw in enumerate(lines, start=1):
        if line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield line_no, None, f"invalid UTF-8 at byte {exc.start}"
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line_no, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        except RecursionError:
            yield line_no, None, "not valid JSON (nested too deeply)"
            continue
        if not isinstance(value, dict):
            yield line_no, None, f"expected a JSON object, got {type(value).__name__}"
            continue
        yield line_no, value, None


def check_readable(path: Path) -> None:
    """Raise `SourceError` (one line, naming the file) unless `path` is a readable file."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: file not found (pass an existing file or a known source name)")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if path.name.lower().endswith(".parquet"):
        _parquet_file(path)


def read_records(path: Path) -> Iterator[Record]:
    """Records of a local file in its native schema (see the module docstring)."""
    path = Path(path)
    check_readable(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        yield from _read_parquet(path)
    elif name.endswith(".json"):
        yield from _read_json_array(path)
    elif name.endswith(".gz"):
        yield from _read_gzip_lines(path)
    else:
        with path.open("rb") as f:
            yield from parse_json_lines(f)


def _read_gzip_lines(path: Path) -> Iterator[Record]:
    try:
        with gzip.open(path, "rb") as f:
            lines = f.readlines()
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: not a readable gzip file ({exc})") from None
    yield from parse_json_lines(lines)


def _read_json_array(path: Path) -> Iterator[Record]:
    data = path.read_bytes()
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data.strip():
        return
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # Not one JSON document: maybe JSONL with a .json name.
        if data.lstrip().startswith(b"{"):
            yield from parse_json_lines(data.splitlines())
            return
        raise SourceError(f"{path}: not a JSON array or JSONL file ({exc})") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise SourceError(f"{path}: expected a JSON array of objects, got {type(value).__name__}")
    for i, item in enumerate(value, start=1):
        if isinstance(item, dict):
            yield i, item, None
        else:
            yield i, None, f"expected a JSON object, got {type(item).__name__}"


def _parquet_file(path: Path):  # -> pyarrow.parquet.ParquetFile
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt or non-Parquet file
        raise SourceError(f"{path}: not a readable Parquet file ({exc.__class__.__name__}: {exc})") from None


def _read_parquet(path: Path) -> Iterator[Record]:
    pf = _parquet_file(path)
    index = 0
    try:
        for batch in pf.iter_batches(batch_size=4096):
            for record in batch.to_pylist():
                index += 1
                yield index, record, None
    except Exception as exc:
        raise SourceError(f"{path}: Parquet data unreadable after row {index} "
                          f"({exc.__class__.__name__}: {exc})") from None

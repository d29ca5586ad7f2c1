"""How `reflect` commands print their result: on stdout, text by default, one JSON object with `--json`.

The text form is one `key: value` line per entry (nested entries as `outer.inner`), so a person
reads it and `grep` finds a field; `--json` is for programs (`reflect train --json ... | jq`).
Progress lines never go to stdout (flows/cli_errors.py sends them to stderr).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

# The commands that report a result; `serve` and `deploy` keep running instead.
REPORTING = ("bootstrap", "solve", "import-model", "grade", "clean", "train", "evaluate", "register", "promote", "run")
JSON_HELP = "print the result as one JSON object (default: one 'key: value' line per entry)"


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from _flat(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "-"
    return "-" if value is None else str(value)


def as_text(result: Mapping[str, Any]) -> str:
    """`result` as `key: value` lines."""
    return "\n".join(f"{k}: {_text(v)}" for k, v in _flat(result))


def report(result: Mapping[str, Any], as_json: bool) -> None:
    """Print `result` on stdout: one JSON line with `as_json`, else `as_text`."""
    print(json.dumps(result, default=str) if as_json else as_text(result))

"""Re-grade saved completions: `reflect grade IN.jsonl --out OUT.jsonl` (docs/method.md section 3).

`grade_jsonl` reads JSON Lines whose rows carry `completion` (the model's text, `</think>` and
`\\boxed{}` included) and `reference` (the gold answer; a JSON number is read as its decimal
text), and writes every input line, in order, as one output row with a boolean `correct` added
(overwritten if present; the other fields are kept as they were). A line that cannot be graded
(not JSON, not a JSON object, a missing or non-text `completion`/`reference`, bytes that are not
UTF-8, a blank line) still becomes a row: `correct: false` and `error` naming the line and the
problem; a line that is not a JSON object is kept under `raw`. Nothing is dropped, nothing
raises: the row counts as `invalid`. The output is written to a temporary file and renamed into
place, so IN and OUT may be the same file and a crash never leaves half a file.

Counts: `rows` (output rows = input lines), `correct`, `incorrect` (graded, wrong, including no
`</think>` or no box), `invalid` (could not be graded); correct + incorrect + invalid == rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.atomic import write_with
from components.rewards.grading import is_correct

REQUIRED_FIELDS = ("completion", "reference")


def _text_field(row: dict[str, Any], name: str, allow_number: bool) -> str:
    if name not in row:
        raise ValueError(f"missing field {name!r} (every row needs {' and '.join(map(repr, REQUIRED_FIELDS))})")
    value = row[name]
    if isinstance(value, str):
        return value
    if allow_number and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"field {name!r} must be {'text or a number' if allow_number else 'text'}, "
                     f"got {type(value).__name__}")


def grade_row(line: bytes, line_no: int) -> tuple[dict[str, Any], bool | None]:
    """One input line -> (output row, verdict); verdict None when the line could not be graded."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw = line.decode("utf-8", errors="replace")
        return {"raw": raw, "correct": False, "error": f"line {line_no}: not UTF-8 ({exc.reason})"}, None
    text = text.rstrip("\r\n")
    if not text.strip():
        return {"raw": text, "correct": False, "error": f"line {line_no}: blank line"}, None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return {"raw": text, "correct": False, "error": f"line {line_no}: not JSON ({exc.msg})"}, None
    if not isinstance(row, dict):
        return {"raw": row, "correct": False,
                "error": f"line {line_no}: expected a JSON object, got {type(row).__name__}"}, None
    try:
        completion = _text_field(row, "completion", allow_number=False)
        reference = _text_field(row, "reference", allow_number=True)
    except ValueError as exc:
        return {**row, "correct": False, "error": f"line {line_no}: {exc}"}, None
    try:
        verdict = is_correct(completion, reference)
    except Exception as exc:  # a grader bug must not lose the file; the row says what happened
        return {**row, "correct": False,
                "error": f"line {line_no}: grader failed ({type(exc).__name__}: {exc})"}, None
    return {**row, "correct": verdict}, verdict


def grade_jsonl(in_path: Path | str, out_path: Path | str) -> dict[str, int]:
    """Grade every line of `in_path` into `out_path` (see the module docstring); return the counts.

    A missing input is a FileNotFoundError, a directory a ValueError, each one line naming the path.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.exists():
        raise FileNotFoundError(f"{in_path}: input file not found (expected JSONL rows with "
                                f"'completion' and 'reference')")
    if not in_path.is_file():
        raise ValueError(f"{in_path}: not a file (expected a JSONL file of rows with "
                         f"'completion' and 'reference')")
    counts = {"rows": 0, "correct": 0, "incorrect": 0, "invalid": 0}

    def write(tmp: Path) -> None:
        with open(in_path, "rb") as src, open(tmp, "w", encoding="utf-8") as dst:
            for line_no, line in enumerate(src, start=1):
                row, verdict = grade_row(line, line_no)
                counts["rows"] += 1
                counts["invalid" if verdict is None else "correct" if verdict else "incorrect"] += 1
                dst.write(json.dumps(row, ensure_ascii=False) + "\n")

    write_with(out_path, write)
    return counts

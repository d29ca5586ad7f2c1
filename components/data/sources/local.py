"""Plain local files in a generic schema, and schema detection for files named without one.

The generic schema reads `problem` (or `question`), `answer` (or `gold_answer`,
`final_answer`), optional `solution` and `id`, and a `meta` object when present; every other
scalar column goes to `meta`. `detect_schema` looks at the first readable record of a file and
picks the native schema it matches (LIMR, OREAL, OpenR1, NuminaMath-CoT), else the generic one;
`SCHEMA:PATH` on the command line overrides the guess.
"""

from __future__ import annotations

from typing import Any

from components.data.sources import limr, numina, openr1, oreal
from components.data.sources.schema import (Fields, RecordError, Schema, answer_text, native_id,
                                            scalar_meta, text)

_PROBLEM_KEYS = ("problem", "question")
_ANSWER_KEYS = ("answer", "gold_answer", "final_answer")


def to_fields(record: dict[str, Any]) -> Fields:
    problem_key = next((k for k in _PROBLEM_KEYS if k in record), "problem")
    answer_key = next((k for k in _ANSWER_KEYS if k in record), "answer")
    meta_value = record.get("meta")
    if meta_value is not None and not isinstance(meta_value, dict):
        raise RecordError(f"meta: expected an object, got {type(meta_value).__name__}")
    meta = scalar_meta(record, (problem_key, answer_key, "solution", "id", "meta"))
    meta.update(meta_value or {})
    return Fields(text(record, problem_key), answer_text(record, answer_key),
                  text(record, "solution", required=False), native_id(record, "id"), meta)


SCHEMA = Schema("local", "", to_fields)


def detect_schema(record: dict[str, Any] | None) -> Schema:
    """The native schema a record looks like (the generic one when unsure)."""
    if not record:
        return SCHEMA
    keys = set(record)
    if "context_messages" in keys or ("context" in keys and "problem" not in keys):
        return limr.SCHEMA
    if "gold_answer" in keys and "question" in keys:
        return oreal.SCHEMA
    if "uuid" in keys and "generations" in keys:
        return openr1.SCHEMA
    if "problem" in keys and "solution" in keys and "answer" not in keys:
        return numina.SCHEMA
    return SCHEMA

"""LIMR (GAIR/LIMR) to rows.

Native columns (the real train split in shared/data/train_samples/limr): `dataset`, `context`
(the problem), `context_messages` (a system prompt and the user turn), `id`, `answer`,
`source`. When `context` is absent the user turn of `context_messages` is the problem. There is
no reference solution.
"""

from __future__ import annotations

from typing import Any

from components.data.sources.schema import (Fields, RecordError, Schema, answer_text, native_id,
                                            scalar_meta, text)


def _user_turn(messages: Any) -> str:
    if not isinstance(messages, list):
        raise RecordError(f"context_messages: expected a list, got {type(messages).__name__}")
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str) or content is None:
                return content or ""
            raise RecordError(f"context_messages: user content is {type(content).__name__}, not text")
    raise RecordError("context_messages: no user turn")


def to_fields(record: dict[str, Any]) -> Fields:
    if "context" in record:
        problem = text(record, "context")
    else:
        problem = _user_turn(record.get("context_messages"))
    return Fields(problem, answer_text(record, "answer"), None, native_id(record, "id"),
                  scalar_meta(record, ("context", "answer", "id")))


SCHEMA = Schema("limr", "GAIR/LIMR:train", to_fields)

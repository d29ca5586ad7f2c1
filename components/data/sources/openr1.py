"""OpenR1-Math-220k (open-r1/OpenR1-Math-220k) to rows.

Native columns (dataset card): `problem`, `solution`, `answer`, `problem_type`,
`question_type`, `source`, `uuid`, `is_reasoning_complete`, `generations`,
`correctness_math_verify`, `correctness_llama`, `finish_reasons`, `correctness_count`,
`messages`. The R1 generations (lists) stay out of `meta`; `uuid` is the row id.
"""

from __future__ import annotations

from typing import Any

from components.data.sources.schema import Fields, Schema, answer_text, native_id, scalar_meta, text


def to_fields(record: dict[str, Any]) -> Fields:
    return Fields(text(record, "problem"), answer_text(record, "answer"),
                  text(record, "solution", required=False), native_id(record, "uuid"),
                  scalar_meta(record, ("problem", "answer", "solution", "uuid")))


SCHEMA = Schema("openr1", "open-r1/OpenR1-Math-220k:train", to_fields)

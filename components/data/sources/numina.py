"""NuminaMath (AI-MO/NuminaMath-CoT and AI-MO/NuminaMath-1.5) to rows.

Native columns (dataset cards): CoT has `source`, `problem`, `solution`, `messages` and no
answer column, so the answer is the last `\\boxed{}` of the solution; 1.5 adds `answer`,
`problem_type`, `question_type`, `problem_is_valid`, `solution_is_valid`, `synthetic` (its
`answer` is "proof" or "notfound" for problems without a checkable answer, which the
verifiability agent rejects).
"""

from __future__ import annotations

from typing import Any

from components.data.sources.schema import Fields, Schema, answer_text, scalar_meta, text
from components.rewards.grading import extract_boxed


def to_fields(record: dict[str, Any]) -> Fields:
    problem = text(record, "problem")
    solution = text(record, "solution", required=False)
    if "answer" in record:
        answer, answer_from = answer_text(record, "answer"), "answer"
    else:
        answer, answer_from = (extract_boxed(solution) if solution else None) or "", "solution"
    meta = scalar_meta(record, ("problem", "solution", "answer", "messages"))
    meta["answer_from"] = answer_from
    return Fields(problem, answer, solution, None, meta)


SCHEMA = Schema("numina", "AI-MO/NuminaMath-CoT:train", to_fields)

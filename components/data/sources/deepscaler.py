"""DeepScaleR (agentica-org/DeepScaleR-Preview-Dataset) to rows.

Native columns: `problem`, `answer`, `solution`; the component files add `difficulty`, `year`,
`aime_number`, `problem_number` (see shared/data/MANIFEST.md). Those go to `meta`; `difficulty`
is used to stratify the sample to the target size.
"""

from __future__ import annotations

from typing import Any

from components.data.sources.schema import Fields, Schema, answer_text, scalar_meta, text


def to_fields(record: dict[str, Any]) -> Fields:
    return Fields(text(record, "problem"), answer_text(record, "answer"),
                  text(record, "solution", required=False), None,
                  scalar_meta(record, ("problem", "answer", "solution")))


SCHEMA = Schema("deepscaler", "agentica-org/DeepScaleR-Preview-Dataset:train", to_fields)

"""OREAL-RL prompts (internlm/OREAL-RL-Prompts) to rows.

Native columns (dataset card): `question`, `gold_answer`, `pass_rate` (the share of 16 samples
of OREAL-7B-SFT that solved it). `pass_rate` goes to `meta` and is used to stratify the sample
to the target size. There is no id and no reference solution.
"""

from __future__ import annotations

from typing import Any

from components.data.sources.schema import Fields, Schema, answer_text, scalar_meta, text


def to_fields(record: dict[str, Any]) -> Fields:
    return Fields(text(record, "question"), answer_text(record, "gold_answer"), None, None,
                  scalar_meta(record, ("question", "gold_answer")))


SCHEMA = Schema("oreal", "internlm/OREAL-RL-Prompts:train", to_fields)

"""Cleaning agents: independent objects, each judging rows from one angle (docs/method.md section 5).

Every agent has a `name`, a `scope` and `review(rows) -> list[Verdict]` (one verdict per row,
in order). Row-scope agents judge each row on its own and are shown every row; set-scope agents
compare rows with each other or are costly, and are shown only the rows still standing after the
agents before them (see `components.data.consensus`).

| agent | scope | rejects as |
|---|---|---|
| format | row | malformed, empty, too_long |
| verifiability | row | unverifiable |
| consistency | row | inconsistent |
| decontamination | row | contaminated |
| dedup | set | duplicate, near_duplicate |
| difficulty | set | too_easy, too_hard (only with a policy) |
| judge | set | judge_rejected (only when enabled) |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from components.data.rows import Row, Verdict

Scope = Literal["row", "set"]
AGENT_ORDER = ("format", "verifiability", "consistency", "decontamination", "dedup",
               "difficulty", "judge")


class CleaningAgent(Protocol):
    """One angle on the data: a verdict with a reason and a message for every row it is shown."""

    name: str
    scope: Scope

    def review(self, rows: Sequence[Row]) -> list[Verdict]: ...

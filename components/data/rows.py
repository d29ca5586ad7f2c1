"""The one row type every source maps to, and the verdict type every cleaning agent returns.

A `Row` is what the cleaning stage (docs/method.md section 5) sees of one input record, whatever its
native schema: `id`, `source`, `line` (1-based line or row index in the source, so every row can
be traced back), `problem`, `answer`, optional `solution` and free-form `meta`. A record that
could not be read at all (truncated JSON, invalid UTF-8, a wrong type) is still a `Row`: its text
fields are empty and `load_error` says what went wrong, so it reaches the ledger with its line
number instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# The reason categories of a rejection, in a fixed order (report.json counts them in this order).
REASONS: tuple[str, ...] = (
    "malformed", "empty", "too_long", "unverifiable", "inconsistent", "duplicate",
    "near_duplicate", "contaminated", "too_easy", "too_hard", "judge_rejected",
)
# Not a defect: a valid row left out by the reproducible sample down to `target_size`. It is
# written to the ledger all the same, so that rows in = kept + rejected always holds.
SURPLUS = "surplus"

Status = Literal["pass", "reject", "skip"]


@dataclass(frozen=True)
class Row:
    """One input record in the common schema (see the module docstring)."""

    id: str
    source: str
    line: int
    problem: str
    answer: str
    solution: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    load_error: str | None = None


@dataclass(frozen=True)
class Verdict:
    """One agent's opinion of one row.

    `status` is "pass", "reject" (then `reason` is one of `REASONS`) or "skip" (the agent had
    nothing to judge, e.g. no reference solution; counts as no objection). `score` carries an
    agent's measurement when it has one (the difficulty agent's pass rate).
    """

    status: Status
    reason: str = ""
    message: str = ""
    score: float | None = None

    def __post_init__(self) -> None:
        if self.status == "reject" and self.reason not in REASONS:
            raise ValueError(f"a rejection needs a reason in {REASONS}, got {self.reason!r}")


PASS = Verdict("pass")


def reject(reason: str, message: str) -> Verdict:
    """A rejection with its category and a human-readable message."""
    return Verdict("reject", reason, message)


def skip(message: str) -> Verdict:
    """No objection because there was nothing to judge; the message says why."""
    return Verdict("skip", "", message)

"""The consistency agent: a reference solution, when there is one, must end in the row's answer.

The final answer of a solution is its last `\\boxed{}` (`components.rewards.grading.
extract_boxed`), or the text after a GSM8K-style `#### `. It must equal `answer` under
`answers_equal` (normalisation, then math-verify). Disagreement usually means a wrong trace or a
wrong label; either way the row would teach or reward the wrong thing. Rows without a solution,
or whose solution states no final answer, are skipped. Plain numbers are compared as numbers
without math-verify, and other pairs are cached.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from components.data.agents import Scope
from components.data.rows import PASS, Row, Verdict, reject, skip
from components.rewards.grading import answers_equal, extract_boxed

_NUMBER = re.compile(r"^\s*\$?\s*(-?\d+(?:\.\d+)?)\s*\$?\s*$")
_HASHES = re.compile(r"####\s*([^\n]+)\s*$")


def stated_answer(solution: str) -> str | None:
    """The final answer a solution states: its last box, else a trailing `#### value`."""
    boxed = extract_boxed(solution)
    if boxed is not None:
        return boxed
    m = _HASHES.search(solution)
    return m.group(1).strip() if m else None


def _number(s: str) -> Fraction | None:
    m = _NUMBER.match(s.replace(",", "") if re.fullmatch(r"[\d,.\-$\s]+", s) else s)
    return Fraction(m.group(1)) if m else None


@dataclass
class ConsistencyAgent:
    name: str = "consistency"
    scope: Scope = "row"
    _cache: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    def review(self, rows: Sequence[Row]) -> list[Verdict]:
        return [self.check(r) for r in rows]

    def same(self, stated: str, answer: str) -> bool:
        a, b = _number(stated), _number(answer)
        if a is not None and b is not None:
            return a == b
        key = (stated, answer)
        if key not in self._cache:
            self._cache[key] = answers_equal(stated, answer)
        return self._cache[key]

    def check(self, row: Row) -> Verdict:
        if row.load_error or not row.answer.strip():
            return skip("no answer to compare")
        if not row.solution or not row.solution.strip():
            return skip("no reference solution")
        stated = stated_answer(row.solution)
        if stated is None or not stated.strip():
            return skip("the solution states no final answer")
        if self.same(stated, row.answer.strip()):
            return PASS
        return reject("inconsistent", f"solution ends in {stated[:60]!r} but answer is {row.answer.strip()[:60]!r}")

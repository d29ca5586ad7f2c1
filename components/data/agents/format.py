"""The format agent: rows that cannot be used as they are written.

Checks, first failure wins: the record could not be read (malformed, with the reader's
message); empty problem or answer (empty); problem, answer or solution over its length limit
(too_long); control characters, replacement characters or lone surrogates, the marks of broken
encodings and unescaped `\\f`/`\\b` in JSON LaTeX (malformed); text with almost no letters or
digits (malformed); unbalanced `{}` in the problem or the answer (malformed; escaped `\\{` and
`\\}` do not count).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from components.data.agents import Scope
from components.data.rows import PASS, Row, Verdict, reject

# C0 controls other than \t \n \r, DEL, U+FFFD (decoding failures) and lone surrogates.
_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\ud800-\udfff]")
_ALNUM = re.compile(r"[^\W_]")
_ESCAPED_BRACE = re.compile(r"\\[{}]")


@dataclass(frozen=True)
class FormatConfig:
    max_problem_chars: int = 4000
    max_answer_chars: int = 200
    max_solution_chars: int = 32000
    # A problem needs at least this share of letters or digits among its non-space characters.
    min_alnum_share: float = 0.3


def brace_error(text: str) -> str | None:
    """Why `{}` in `text` are unbalanced, or None when they balance.

    >>> brace_error("\\\\frac{1}{2}") is None
    True
    >>> brace_error("\\\\frac{1}{2")
    "1 unclosed '{'"
    >>> brace_error("a} {b")
    "'}' without '{' at character 1"
    """
    if "{" not in text and "}" not in text:
        return None
    depth = 0
    for m in re.finditer(r"[{}]", _ESCAPED_BRACE.sub("", text)):
        depth += 1 if m.group() == "{" else -1
        if depth < 0:
            return f"'}}' without '{{' at character {m.start()}"
    return f"{depth} unclosed '{{'" if depth else None


@dataclass(frozen=True)
class FormatAgent:
    cfg: FormatConfig = FormatConfig()
    name: str = "format"
    scope: Scope = "row"

    def review(self, rows: Sequence[Row]) -> list[Verdict]:
        return [self.check(r) for r in rows]

    def check(self, row: Row) -> Verdict:
        if row.load_error:
            return reject("malformed", f"unreadable record: {row.load_error}")
        cfg = self.cfg
        if not row.problem.strip():
            return reject("empty", "problem is empty")
        if not row.answer.strip():
            return reject("empty", "answer is empty")
        for name, value, limit in (("problem", row.problem, cfg.max_problem_chars),
                                   ("answer", row.answer, cfg.max_answer_chars),
                                   ("solution", row.solution or "", cfg.max_solution_chars)):
            if len(value) > limit:
                return reject("too_long", f"{name} has {len(value):,} characters (limit {limit:,})")
        for name, value in (("problem", row.problem), ("answer", row.answer), ("solution", row.solution or "")):
            m = _JUNK.search(value)
            if m:
                return reject("malformed", f"{name} contains control or replacement character "
                                           f"U+{ord(m.group()):04X} at character {m.start()}")
        visible = len(row.problem) - row.problem.count(" ") - row.problem.count("\n")
        if visible and len(_ALNUM.findall(row.problem)) < cfg.min_alnum_share * visible:
            return reject("malformed", "problem is mostly symbols, not text")
        for name, value in (("problem", row.problem), ("answer", row.answer)):
            err = brace_error(value)
            if err:
                return reject("malformed", f"{name} has unbalanced braces: {err}")
        return PASS

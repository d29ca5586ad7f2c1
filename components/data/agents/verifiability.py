"""The verifiability agent: the answer must be something the grader can check.

The outcome reward (docs/method.md section 3) compares a boxed answer with the reference through
math-verify, so a row is only useful if its reference can be compared at all. Rejected as
unverifiable: proof problems ("prove that", "show that" without anything to find or compute),
placeholder and missing-value answers ("proof", "notfound", "QED", "nan", "null", "N/A"), answers
that defer to the solution ("see solution", "shown above", "as proved in the proof"), prose answers (four or more
words), bare multiple-choice letters when the problem lists no options, and answers
`components.rewards.grading.is_verifiable` cannot parse. The rules above the math-verify call are
this agent's own (the shared grader accepts almost any text, as math-verify parses words as
symbols). Plain numbers skip the math-verify call, and results are cached per answer string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from components.data.agents import Scope
from components.data.rows import PASS, Row, Verdict, reject, skip
from components.rewards.grading import is_verifiable

_PLACEHOLDER = re.compile(
    r"^(?:proofs?|q\.?e\.?d\.?|not ?found|none|n/?a|n\.a\.?|no answer|answers? (?:may|will) vary|\?+|-+"
    r"|nan|null|nil|missing|tbd|todo)$", re.IGNORECASE)
# An answer that defers to the solution instead of giving a value: "see solution", "shown above",
# "as proved in the solution", "refer to the proof", "(see explanation)".
_DEFERS = re.compile(
    r"^\(?\s*(?:(?:see|refer to|check|read)(?: the)?\s+(?:above|below|(?:full |worked )?(?:solution|proof|explanation"
    r"|work|steps|derivation|argument)s?)"
    r"|(?:as |it is |this is |which is )?(?:shown|proved|proven|derived|stated|given|explained|demonstrated"
    r"|computed|established|described)\s+(?:above|below|earlier|in (?:the )?(?:solution|proof|explanation|text)))"
    r"(?:\s+(?:above|below))?\s*\)?[.!]?$", re.IGNORECASE)
_PROOF_ASK = re.compile(r"\b(?:prove|show|demonstrate|verify)\s+that\b", re.IGNORECASE)
_SOMETHING_TO_FIND = re.compile(
    r"\b(?:find|compute|calculate|determine|evaluate|what|how (?:many|much)|which|simplify|solve)\b",
    re.IGNORECASE)
_LETTER = re.compile(r"^\(?([A-E])\)?$")
_OPTIONS = re.compile(r"\(\s*[A-E]\s*\)|\b[A-E][.:)]\s|\\textbf\{\s*\(?[A-E]")
_PLAIN_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:/\d+)?$")
_WORD = re.compile(r"(?<!\\)\b[A-Za-z]{2,}\b")
_WRAPPERS = re.compile(r"^\$+|\$+$|\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")


def _strip(answer: str) -> str:
    return _WRAPPERS.sub(lambda m: m.group(1) or "", answer.strip()).strip()


@dataclass(frozen=True)
class VerifiabilityConfig:
    reject_proofs: bool = True
    reject_bare_choice_letters: bool = True
    max_answer_words: int = 3


@dataclass
class VerifiabilityAgent:
    cfg: VerifiabilityConfig = field(default_factory=VerifiabilityConfig)
    name: str = "verifiability"
    scope: Scope = "row"
    _cache: dict[str, bool] = field(default_factory=dict, repr=False)

    def review(self, rows: Sequence[Row]) -> list[Verdict]:
        return [self.check(r) for r in rows]

    def parses(self, answer: str) -> bool:
        """`is_verifiable(answer)`, cached; plain numbers need no math-verify call."""
        if _PLAIN_NUMBER.match(answer):
            return True
        if answer not in self._cache:
            self._cache[answer] = is_verifiable(answer)
        return self._cache[answer]

    def check(self, row: Row) -> Verdict:
        if row.load_error or not row.answer.strip():
            return skip("no answer to check")
        answer = row.answer.strip()
        bare = _strip(answer)
        if _PLACEHOLDER.match(bare):
            return reject("unverifiable", f"answer {answer[:40]!r} is a placeholder, not a value")
        if _DEFERS.match(bare):
            return reject("unverifiable",
                          f"answer {answer[:40]!r} is a placeholder deferring to the solution, not a value")
        if self.cfg.reject_proofs and _PROOF_ASK.search(row.problem) and not _SOMETHING_TO_FIND.search(row.problem):
            return reject("unverifiable", "proof problem: nothing to find or compute")
        if self.cfg.reject_bare_choice_letters and _LETTER.match(bare) and not _OPTIONS.search(row.problem):
            return reject("unverifiable", f"answer {answer!r} is a choice letter but the problem lists no options")
        words = _WORD.findall(bare)
        if len(words) > self.cfg.max_answer_words:
            return reject("unverifiable", f"answer is prose ({len(words)} words): {answer[:60]!r}")
        if not self.parses(answer):
            return reject("unverifiable", f"math-verify cannot parse answer {answer[:60]!r}")
        return PASS

"""The decontamination agent: no training row may be (a variant of) an evaluation problem.

Against every eval set chosen for the run (AIME24, AIME25, MATH500, GSM8K, the synthetic
held-out set; see `components.data.eval_sets`), a row is contaminated when
- its canonical key (`components.data.text_keys`: whitespace, LaTeX spacing and number format
  removed) equals an eval problem's (exact match, formatting variants included), or
- at least `min_overlap` of its token `ngram`-grams occur in one eval set (n-gram overlap: a
  reworded copy; rows shorter than `ngram` tokens are only matched exactly), or
- it is a synthetic-task problem whose text hashes into the held-out split
  (`components.data.synthetic.is_heldout`), whatever held-out sample was drawn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from components.data.agents import Scope
from components.data.rows import PASS, Row, Verdict, reject, skip
from components.data.eval_sets import EvalSet
from components.data.synthetic import TaskConfig, is_heldout
from components.data.text_keys import canonical_tokens, token_ngrams

# Exactly the generator's output form; a reformatted copy is matched against the drawn held-out
# sample instead (its text no longer hashes like the original).
_SYNTHETIC_FORM = re.compile(r"^(?:Compute [0-9+\-*/()]+|Solve for x: \d+\*x\+\d+=\d+)\.$")
# Longer problems are rejected as too_long by the format agent; do not spend seconds on them.
_MAX_CHARS = 100_000


@dataclass(frozen=True)
class DecontaminationConfig:
    ngram: int = 13
    min_overlap: float = 0.5


@dataclass
class DecontaminationAgent:
    eval_sets: Sequence[EvalSet]
    cfg: DecontaminationConfig = field(default_factory=DecontaminationConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    name: str = "decontamination"
    scope: Scope = "row"

    def __post_init__(self) -> None:
        self._exact: dict[str, str] = {}
        self._ngrams: dict[str, str] = {}
        self._hash_split = any(s.hash_split for s in self.eval_sets)
        for s in self.eval_sets:
            for problem in s.texts:
                tokens = canonical_tokens(problem)
                self._exact.setdefault("".join(tokens), s.name)
                for g in token_ngrams(tokens, self.cfg.ngram):
                    self._ngrams.setdefault(g, s.name)

    def review(self, rows: Sequence[Row]) -> list[Verdict]:
        return [self.check(r) for r in rows]

    def check(self, row: Row) -> Verdict:
        if row.load_error or not row.problem.strip():
            return skip("no problem text")
        if len(row.problem) > _MAX_CHARS:
            return skip(f"problem over {_MAX_CHARS:,} characters, not checked")
        if self._hash_split and _SYNTHETIC_FORM.match(row.problem) and is_heldout(row.problem, self.task.heldout_share):
            return reject("contaminated", "synthetic problem from the held-out split")
        tokens = canonical_tokens(row.problem)
        hit = self._exact.get("".join(tokens))
        if hit:
            return reject("contaminated", f"same problem as one in eval set {hit}")
        grams = token_ngrams(tokens, self.cfg.ngram)
        if grams and self._ngrams:
            counts: dict[str, int] = {}
            for g in grams:
                name = self._ngrams.get(g)
                if name:
                    counts[name] = counts.get(name, 0) + 1
            if counts:
                name, n = max(sorted(counts.items()), key=lambda kv: kv[1])
                share = n / len(grams)
                if share >= self.cfg.min_overlap:
                    return reject("contaminated", f"{share:.0%} of its {self.cfg.ngram}-grams occur in eval set {name}")
        return PASS

"""The deduplication agent: one representative per problem, the rest rejected.

Three passes over the rows it is shown (those still standing after the row-scope agents):
1. exact: same text after NFKC and whitespace collapsing (`text_keys.exact_key`): duplicate;
2. formatting variants: same canonical key (whitespace, LaTeX spacing, `\\dfrac`, `\\cdot`, `$`,
   thousands separators, trailing decimal zeros removed): near_duplicate;
3. fuzzy: MinHash LSH (datasketch, `num_perm` permutations, character `shingle`-grams of the
   canonical key; the index is banded for `lsh_threshold`, below the decision threshold, so
   that few true pairs escape it) over the survivors of pass 2. A candidate pair counts only
   when its estimated Jaccard similarity reaches `threshold`, it has the same numbers in the same order
   and the same canonical answer: in maths, "Compute 3+4*2" and "Compute 3*4+2" are close as
   text but different problems, and a changed number is a new problem.
The representative of each group is the first row with a reference solution, else the first row,
in input order; every other member names it in its message.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from components.data.agents import Scope
from components.data.rows import PASS, Row, Verdict, reject, skip
from components.data.text_keys import canonical_key, char_shingles, exact_key, numbers


@dataclass(frozen=True)
class DedupConfig:
    num_perm: int = 64
    threshold: float = 0.8       # estimated Jaccard a candidate pair must reach
    lsh_threshold: float = 0.6   # the LSH index's own threshold: lower, so few true pairs are missed
    shingle: int = 5


def _where(row: Row, member: Row | None = None) -> str:
    """Where the representative is; notes a conflicting answer (one of the two labels is wrong)."""
    where = f"{row.source}:{row.line} ({row.id})"
    if member is not None and member.answer.strip() != row.answer.strip():
        where += f"; answers differ: {member.answer.strip()[:30]!r} vs {row.answer.strip()[:30]!r}"
    return where


@dataclass
class DedupAgent:
    cfg: DedupConfig = field(default_factory=DedupConfig)
    name: str = "dedup"
    scope: Scope = "set"

    def review(self, rows: Sequence[Row]) -> list[Verdict]:
        verdicts: list[Verdict] = [PASS] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: (not rows[i].solution, i))
        # Pass 1: exact duplicates.
        first: dict[str, int] = {}
        survivors: list[int] = []
        for i in order:
            if rows[i].load_error or not rows[i].problem.strip():
                verdicts[i] = skip("no problem text")
                continue
            rep = first.setdefault(exact_key(rows[i].problem), i)
            if rep != i:
                verdicts[i] = reject("duplicate", f"same text as {_where(rows[rep], rows[i])}")
            else:
                survivors.append(i)
        # Pass 2: formatting variants (identical canonical keys).
        keys = {i: canonical_key(rows[i].problem) for i in survivors}
        first_key: dict[str, int] = {}
        distinct: list[int] = []
        for i in survivors:
            rep = first_key.setdefault(keys[i], i)
            if rep != i:
                verdicts[i] = reject("near_duplicate", f"same problem up to formatting as {_where(rows[rep], rows[i])}")
            else:
                distinct.append(i)
        # Pass 3: fuzzy near-duplicates with MinHash LSH.
        for i, (rep, jaccard) in self._fuzzy_groups(rows, distinct, keys).items():
            verdicts[i] = reject("near_duplicate", f"near-duplicate of {_where(rows[rep])} "
                                                   f"(estimated Jaccard {jaccard:.2f}, same numbers and answer)")
        return verdicts

    def _fuzzy_groups(self, rows: Sequence[Row], idx: list[int],
                      keys: dict[int, str]) -> dict[int, tuple[int, float]]:
        """{member: (representative, estimated Jaccard to the member it matched)}."""
        if len(idx) < 2:
            return {}
        from datasketch import MinHash, MinHashLSH

        cfg = self.cfg
        hashes = MinHash.bulk([char_shingles(keys[i], cfg.shingle) for i in idx],
                              num_perm=cfg.num_perm, hashfunc=zlib.crc32)
        lsh = MinHashLSH(threshold=cfg.lsh_threshold, num_perm=cfg.num_perm)
        with lsh.insertion_session() as session:
            for pos, m in enumerate(hashes):
                session.insert(pos, m, check_duplication=False)
        parent = list(range(len(idx)))

        def find(p: int) -> int:
            while parent[p] != p:
                parent[p] = parent[parent[p]]
                p = parent[p]
            return p

        matched: dict[int, float] = {}
        nums: dict[int, tuple[str, ...]] = {}
        answers: dict[int, str] = {}
        for pos in range(len(idx)):
            for other in lsh.query(hashes[pos]):
                if other <= pos:
                    continue  # each pair once, from its earlier member
                for p in (pos, other):
                    if p not in nums:
                        nums[p] = numbers(rows[idx[p]].problem)
                        answers[p] = canonical_key(rows[idx[p]].answer)
                if nums[pos] != nums[other] or answers[pos] != answers[other]:
                    continue
                jaccard = hashes[pos].jaccard(hashes[other])
                if jaccard < cfg.threshold:
                    continue
                a, b = find(pos), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)  # the earlier position stays the root
                matched[other] = max(matched.get(other, 0.0), jaccard)
                matched.setdefault(pos, jaccard)
        out: dict[int, tuple[int, float]] = {}
        for pos, jaccard in matched.items():
            root = find(pos)
            if root != pos:
                out[idx[pos]] = (idx[root], jaccard)
        return out

"""Sampling the surviving rows down to the target size, reproducibly, stratified.

Strata are (source, difficulty bucket). The bucket is the policy's measured pass rate when the
difficulty agent measured the row, else the source's own difficulty signal (`difficulty` in
DeepScaleR, `level` in MATH, `pass_rate` in OREAL, `n_ops` in the synthetic task), else
"unknown". Each stratum gets a share of the target proportional to its size (largest
remainders, ties broken by stratum name), and within a stratum rows are taken in the order of a
seeded hash of (source, line), so the same inputs and seed always give the same set.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from components.data.rows import Row, Verdict


def difficulty_bucket(row: Row, verdicts: Mapping[str, Verdict]) -> str:
    v = verdicts.get("difficulty")
    if v is not None and v.score is not None:
        return f"policy:{v.score:.2f}"
    meta = row.meta
    for key, width in (("difficulty", 1.0), ("level", None), ("pass_rate", 0.25), ("n_ops", 1.0)):
        value = meta.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)) and width:
            return f"{key}:{math.floor(float(value) / width) * width:g}"
        return f"{key}:{value}"
    return "unknown"


def _order(seed: int, row: Row) -> bytes:
    return hashlib.blake2b(f"{seed}:{row.source}:{row.line}".encode("utf-8", "surrogatepass"),
                           digest_size=8).digest()


def sample_to_target(rows: Sequence[Row], verdicts: Sequence[Mapping[str, Verdict]],
                     candidates: Sequence[int], target: int, seed: int) -> set[int]:
    """Indices (from `candidates`) of the rows to keep: all of them when they fit the target."""
    if len(candidates) <= target:
        return set(candidates)
    strata: dict[tuple[str, str], list[int]] = {}
    for i in candidates:
        strata.setdefault((rows[i].source, difficulty_bucket(rows[i], verdicts[i])), []).append(i)
    total = len(candidates)
    quotas = {k: target * len(v) // total for k, v in strata.items()}
    rest = target - sum(quotas.values())
    by_remainder = sorted(strata, key=lambda k: (-(target * len(strata[k]) % total), k))
    for k in by_remainder[:rest]:
        quotas[k] += 1
    keep: set[int] = set()
    for k, members in strata.items():
        members = sorted(members, key=lambda i: _order(seed, rows[i]))
        keep.update(members[:quotas[k]])
    return keep

"""Sampling to the target size: exact size, proportional strata, reproducible."""

from collections import Counter

from components.data.rows import Verdict
from components.data.sampling import difficulty_bucket, sample_to_target
from tests.components.data.agents.conftest import make_row


def _rows():
    rows = [make_row(line=i, source="a", n_ops=2 + i % 3) for i in range(600)]
    rows += [make_row(line=i, source="b", difficulty=float(i % 5)) for i in range(300)]
    return rows


def test_exact_size_and_proportions():
    rows = _rows()
    keep = sample_to_target(rows, [{}] * len(rows), list(range(len(rows))), 300, seed=0)
    assert len(keep) == 300
    by_source = Counter(rows[i].source for i in keep)
    assert by_source == {"a": 200, "b": 100}
    by_stratum = Counter((rows[i].source, difficulty_bucket(rows[i], {})) for i in keep)
    assert set(by_stratum.values()) <= {66, 67, 20}


def test_reproducible_and_seeded():
    rows = _rows()
    args = (rows, [{}] * len(rows), list(range(len(rows))), 123)
    assert sample_to_target(*args, seed=1) == sample_to_target(*args, seed=1)
    assert sample_to_target(*args, seed=1) != sample_to_target(*args, seed=2)


def test_fits_keeps_everything_and_policy_bucket_wins():
    rows = _rows()[:10]
    assert sample_to_target(rows, [{}] * 10, [1, 3], 5, seed=0) == {1, 3}
    assert difficulty_bucket(rows[0], {"difficulty": Verdict("pass", "", "", 0.25)}) == "policy:0.25"
    assert difficulty_bucket(make_row(level="Level 3"), {}) == "level:Level 3"
    assert difficulty_bucket(make_row(), {}) == "unknown"

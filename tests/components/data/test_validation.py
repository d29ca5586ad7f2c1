"""The GX gate: passes a good clean set, fails a broken one with a readable report."""

import pyarrow as pa
import pytest

from components.data.ledger import CLEAN_SCHEMA
from components.data.validation import GateConfig, validate_clean


def _table(n=5, **overrides):
    cols = {"id": [f"r{i}" for i in range(n)], "source": ["a"] * (n - 1) + ["b"], "line": list(range(1, n + 1)),
            "problem": [f"Compute {i}+1." for i in range(n)], "answer": [str(i + 1) for i in range(n)],
            "solution": [None] * n, "meta": ["{}"] * n}
    cols.update(overrides)
    return pa.table(cols, schema=CLEAN_SCHEMA)


def _gate(table, sources=("a", "b"), max_rows=10, cfg=GateConfig()):
    return validate_clean(table, list(sources), max_rows, 100, 20, lambda a: a != "$$", cfg)


def test_good_set_passes():
    res = _gate(_table())
    assert res.success and not res.failures() and len(res.checks) >= 14
    assert res.summary().startswith("GX gate: ")


@pytest.mark.parametrize("broken, fragment", [
    (dict(id=["r0", "r0", "r2", "r3", "r4"]), "expect_column_values_to_be_unique(id): 2 unexpected"),
    (dict(answer=["1", None, "3", "4", "5"]), "expect_column_values_to_not_be_null(answer)"),
    (dict(answer=["1", "$$", "3", "4", "5"]), "expect_column_values_to_be_in_set(answer_parseable)"),
    (dict(problem=["x" * 500, "a", "b", "c", "d"]), "expect_column_value_lengths_to_be_between(problem)"),
    (dict(line=[0, 1, 2, 3, 4]), "expect_column_values_to_be_between(line)"),
    (dict(source=["a", "a", "a", "a", "zz"]), "expect_column_values_to_be_in_set(source)"),
])
def test_broken_sets_fail_with_a_readable_report(broken, fragment):
    res = _gate(_table(**broken))
    assert not res.success
    assert fragment in res.summary(), res.summary()


def test_source_mix_and_row_count():
    res = _gate(_table(source=["a"] * 5))
    assert "expect_column_distinct_values_to_contain_set(source)" in res.summary()
    assert _gate(_table(source=["a"] * 5), cfg=GateConfig(require_every_source=False)).success
    assert "expect_table_row_count_to_be_between(table)" in _gate(_table(), max_rows=3).summary()


def test_wrong_schema_fails():
    t = _table().drop(["meta"])
    res = validate_clean(t, ["a", "b"], 10, 100, 20, lambda a: True)
    assert not res.success and "expect_table_columns_to_match_ordered_list(columns)" in res.summary()

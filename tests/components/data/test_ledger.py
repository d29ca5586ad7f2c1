"""The ledger's arithmetic and the determinism of its files."""

import pytest

from components.data.ledger import (LedgerError, build_report, check_arithmetic, check_partition, ledger_table,
                                    report_metrics, write_parquet)
from components.data.rows import PASS, reject
from tests.components.data.agents.conftest import make_row


def _case():
    rows = [make_row(line=i, source="s" if i < 3 else "t") for i in range(1, 5)]
    verdicts = [{"format": PASS, "dedup": PASS}, {"format": reject("empty", "problem is empty")},
                {"format": PASS, "dedup": reject("duplicate", "same text as s:1")}, {"format": PASS, "dedup": PASS}]
    rejected = {1: ("empty", "format", "problem is empty"), 2: ("duplicate", "dedup", "same text as s:1")}
    return rows, verdicts, [0, 3], rejected


def test_report_balances_and_counts():
    rows, verdicts, kept, rejected = _case()
    report = build_report(rows, verdicts, kept, rejected, ["format", "dedup"])
    check_arithmetic(report)
    assert report["per_reason"]["empty"] == 1 and report["per_reason"]["duplicate"] == 1
    assert report["per_source"]["s"] == {"rows_in": 2, "kept": 1, "rejected": 1, "per_reason": {"empty": 1}}
    assert report["per_agent"]["dedup"] == {"ran": True, "reviewed": 3, "rejected": 1, "skipped": 0, "primary": 1}
    assert report["per_agent"]["judge"]["ran"] is False
    assert report_metrics(report)["source/t/kept"] == 1.0


def test_imbalance_is_caught():
    rows, verdicts, kept, rejected = _case()
    report = build_report(rows, verdicts, kept, rejected, ["format", "dedup"])
    report["rows_kept"] += 1
    with pytest.raises(LedgerError, match="does not balance"):
        check_arithmetic(report)
    with pytest.raises(LedgerError, match="both kept and rejected"):
        check_partition(4, [0, 1, 3], rejected)
    with pytest.raises(LedgerError, match="1 rows neither kept nor rejected"):
        check_partition(4, [0], rejected)


def test_ledger_columns_and_bytes(tmp_path):
    rows, verdicts, kept, rejected = _case()
    table = ledger_table(rows, verdicts, rejected, ["format", "dedup"])
    got = table.to_pylist()
    assert [(r["line"], r["reason"], r["agent"]) for r in got] == [(2, "empty", "format"), (3, "duplicate", "dedup")]
    assert got[0]["verdict_dedup"] == "unreviewed" and got[0]["verdict_judge"] == "off"
    assert got[1]["verdict_format"] == "pass" and got[1]["verdict_dedup"] == "duplicate"
    assert '"dedup": "same text as s:1"' in got[1]["messages"]
    write_parquet(table, tmp_path / "a.parquet")
    write_parquet(table, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()

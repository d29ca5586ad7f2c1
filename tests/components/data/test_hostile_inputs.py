"""`reflect clean` on hostile files: every row read is kept or rejected with a reason, and a file
that cannot be read at all is a one-line error naming it."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.data.cleaning import run_clean
from components.data.sources.files import SourceError
from components.data.validation import GateConfig
from flows.cli import main as reflect
from tests.components.data.test_cleaning import SMALL

CFG = replace(SMALL, target_size=50, gate=GateConfig(enabled=False))
GOOD = [{"problem": f"Compute {a}+{a + 7}.", "answer": str(2 * a + 7)} for a in range(11, 16)]

MISSING = ["nan", "NaN", "None", "null", "", "   ", "N/A", "n/a", "n.a."]
DEFERS = ["see solution", "See the solution above.", "shown above", "As shown in the solution",
          r"\text{see proof}", "proof", "(see explanation)", "refer to the solution", "as proved above"]
SPACING = [("Solve $x^2 - 7x + 10 = 0$ for its larger root.", "Solve $x^{2}-7x+10=0$ for its larger root."),
           ("Find $a_1 + a_{2}$ if $a_1 = 3$ and $a_2 = 4$.", "Find $a_{1}+a_2$ if $a_{1}=3$ and $a_{2}=4$.")]


def _clean(tmp_path: Path, *paths: Path):
    run_clean([str(p) for p in paths], tmp_path / "out", ["aime24"], None, CFG)
    out = tmp_path / "out"
    clean = pq.read_table(out / "clean.parquet").to_pylist()
    ledger = pq.read_table(out / "rejected.parquet").to_pylist()
    report = json.loads((out / "report.json").read_text())
    assert report["rows_in"] == len(clean) + len(ledger) == report["rows_kept"] + report["rows_rejected"]
    assert all(r["reason"] and r["message"] for r in ledger)
    return {(r["source"], r["line"]) for r in clean}, {(r["source"], r["line"]): r for r in ledger}, report


def _jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_missing_value_answers_are_rejected(tmp_path):
    records = GOOD + [{"problem": f"Compute {a}*3.", "answer": x} for a, x in enumerate(MISSING, 20)]
    records += [{"problem": "Compute 40*3.", "answer": None}]
    src = tmp_path / "m.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records)
                   + '{"problem": "Compute 41*3.", "answer": NaN}\n', encoding="utf-8")
    kept, ledger, _ = _clean(tmp_path, src)
    s = str(src)
    assert kept == {(s, i) for i in range(1, 6)}
    for line in range(6, len(records) + 2):
        assert ledger[(s, line)]["reason"] in ("empty", "unverifiable"), ledger[(s, line)]


def test_answers_that_defer_to_the_solution_are_rejected(tmp_path):
    records = GOOD + [{"problem": f"Compute {a}*3.", "answer": x} for a, x in enumerate(DEFERS, 20)]
    src = _jsonl(tmp_path / "d.jsonl", records)
    kept, ledger, _ = _clean(tmp_path, src)
    assert kept == {(str(src), i) for i in range(1, 6)}
    for line in range(6, len(records) + 1):
        assert ledger[(str(src), line)]["reason"] == "unverifiable"


def test_latex_spacing_and_brace_variants_are_duplicates(tmp_path):
    records = GOOD + [{"problem": p, "answer": a} for pair, a in zip(SPACING, ("5", "7")) for p in pair]
    src = _jsonl(tmp_path / "s.jsonl", records)
    kept, ledger, _ = _clean(tmp_path, src)
    assert kept == {(str(src), i) for i in (1, 2, 3, 4, 5, 6, 8)}
    assert ledger[(str(src), 7)]["reason"] == ledger[(str(src), 9)]["reason"] == "near_duplicate"


def test_malformed_lines_bom_crlf_and_wrong_types(tmp_path):
    body = ("\ufeff" + json.dumps(GOOD[0]) + "\r\n" + json.dumps(GOOD[1]) + "\r\n"
            + '{"problem": "Compute 1+1.", "answer": \r\n'                     # truncated line
            + '["not", "an", "object"]\r\n'
            + json.dumps({"problem": 7, "answer": "2"}) + "\r\n"                # wrong type
            + json.dumps({"problem": "Compute 2+2.", "answer": True}) + "\r\n"
            + json.dumps({"problem": "Compute 3+3.", "answer": {"v": 6}}) + "\r\n"
            + json.dumps({"foo": "Compute 4+4.", "answer": "8"}) + "\r\n"   # no problem field
            + json.dumps(GOOD[2]))                                              # no final newline
    src = tmp_path / "b.jsonl"
    src.write_bytes(body.encode("utf-8"))
    kept, ledger, _ = _clean(tmp_path, src)
    s = str(src)
    assert kept == {(s, 1), (s, 2), (s, 9)}
    assert {ledger[(s, i)]["reason"] for i in range(3, 9)} == {"malformed"}


def test_gzip_and_oversized_rows(tmp_path):
    src = tmp_path / "g.jsonl.gz"
    records = GOOD[:3] + [{"problem": "Compute " + "1+" * 50_000 + "1.", "answer": "50001"},
                          {"problem": "Compute 9+9.", "answer": "1" * 5000}]
    src.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    kept, ledger, _ = _clean(tmp_path, src)
    assert kept == {(str(src), i) for i in (1, 2, 3)}
    assert ledger[(str(src), 4)]["reason"] == ledger[(str(src), 5)]["reason"] == "too_long"


def test_parquet_with_wrong_types_and_nulls(tmp_path):
    src = tmp_path / "t.parquet"
    pq.write_table(pa.table({"problem": [r["problem"] for r in GOOD] + ["Compute 5*5.", "Compute 6*6."],
                             "answer": [float(r["answer"]) for r in GOOD] + [float("nan"), None]}), src)
    kept, ledger, _ = _clean(tmp_path, src)
    assert kept == {(str(src), i) for i in range(1, 6)}
    assert ledger[(str(src), 6)]["reason"] == ledger[(str(src), 7)]["reason"] == "empty"


def test_empty_parquet_is_a_note_not_a_crash(tmp_path):
    src = tmp_path / "e.parquet"
    pq.write_table(pa.table({"problem": pa.array([], pa.string()), "answer": pa.array([], pa.string())}), src)
    good = _jsonl(tmp_path / "ok.jsonl", GOOD)
    kept, _, report = _clean(tmp_path, src, good)
    assert len(kept) == 5 and f"{src}: no rows (empty source)" in report["notes"]


@pytest.mark.parametrize("name, data", [
    ("cut.parquet", None), ("zero.parquet", b""), ("junk.jsonl.gz", b"\x1f\x8bnot gzip at all"),
    ("bad.json", b"[{\"problem\": "),
])
def test_unreadable_files_are_one_line_errors_naming_the_file(tmp_path, name, data, capsys):
    src = tmp_path / name
    if data is None:   # a Parquet file cut in half
        whole = tmp_path / "whole.parquet"
        pq.write_table(pa.table({"problem": ["Compute 1+1."] * 100, "answer": ["2"] * 100}), whole)
        data = whole.read_bytes()[: whole.stat().st_size // 2]
    src.write_bytes(data)
    with pytest.raises(SourceError) as err:
        run_clean([str(src)], tmp_path / "out", ["aime24"], None, CFG)
    assert str(src) in str(err.value) and "\n" not in str(err.value)
    assert reflect(["clean", "--source", str(src), "--out", str(tmp_path / "o2"), "--eval-sets", "aime24"]) != 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(src) in lines[0] and "Traceback" not in lines[0]


def test_the_cli_cleans_a_hostile_file(tmp_path, capsys):
    src = _jsonl(tmp_path / "c.jsonl", GOOD + [{"problem": "Compute 9*9.", "answer": "nan"},
                                               {"problem": "Compute 8*8.", "answer": "see solution"}])
    params = tmp_path / "params.yaml"
    params.write_text("clean:\n  target_size: 50\n  gate:\n    enabled: false\n", encoding="utf-8")
    assert reflect(["clean", "--source", str(src), "--out", str(tmp_path / "out"), "--eval-sets", "aime24",
                    "--params", str(params)]) == 0
    ledger = pq.read_table(tmp_path / "out" / "rejected.parquet").to_pylist()
    assert sorted((r["line"], r["reason"]) for r in ledger) == [(6, "unverifiable"), (7, "unverifiable")]
    assert pq.read_table(tmp_path / "out" / "clean.parquet").num_rows == 5


def test_odd_values_in_parquet_columns(tmp_path):
    src = tmp_path / "odd.parquet"
    pq.write_table(pa.table({
        "problem": [r["problem"] for r in GOOD] + ["Compute 1/0.", "Compute 2+\x00.", "Compute 3+3."],
        "answer": pa.array([[r["answer"]] for r in GOOD] + [["inf"], ["5"], []], pa.list_(pa.string())),
    }), src)
    kept, ledger, _ = _clean(tmp_path, src)
    assert kept == set() and {r["reason"] for r in ledger.values()} == {"malformed"}
    assert len(ledger) == 8


def test_huge_integers_and_control_characters(tmp_path):
    src = tmp_path / "n.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in GOOD)
                   + '{"problem": "Compute 10^400.", "answer": 1' + "0" * 400 + "}\n"
                   + json.dumps({"problem": "Compute 2+\u0000 2.", "answer": "4"}) + "\n"
                   + json.dumps({"problem": "Compute 2+2.", "answer": "4\u0007"}) + "\n", encoding="utf-8")
    kept, ledger, _ = _clean(tmp_path, src)
    assert kept == {(str(src), i) for i in range(1, 6)}
    assert ledger[(str(src), 6)]["reason"] == "too_long"
    assert ledger[(str(src), 7)]["reason"] == ledger[(str(src), 8)]["reason"] == "malformed"
    assert "U+0000" in ledger[(str(src), 7)]["message"]

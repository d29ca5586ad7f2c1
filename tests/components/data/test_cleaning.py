"""The cleaning run end to end: target size, ledger arithmetic, hostile input, reproducibility."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from components.data.cleaning import CleanConfig, load_clean_config, run_clean
from flows.cli import main as reflect
from components.data.pool import PoolConfig
from components.data.rows import REASONS, SURPLUS
from components.data.eval_sets import EvalSetsConfig
from components.data.sources.files import REPO_ROOT, SourceError
from components.data.validation import GateConfig, GateError
from components.inference.policy import open_policy
from tests.components.data.sources.test_files import _hostile_jsonl

SMALL = CleanConfig(
    target_size=900,
    pool=PoolConfig(base_rows=700, exact_duplicates=60, near_duplicates=60, eval_copies=24, unverifiable=12,
                    malformed=16, empty=10, too_long=2),
    eval_sets=EvalSetsConfig(heldout_n=100))


def _load(out: Path):
    clean = pq.read_table(out / "clean.parquet").to_pylist()
    ledger = pq.read_table(out / "rejected.parquet").to_pylist()
    report = json.loads((out / "report.json").read_text())
    return clean, ledger, report


def test_small_default_reaches_target_and_balances(tmp_path):
    rep = run_clean(["synthetic-default"], tmp_path / "a", None, None, SMALL)
    clean, ledger, report = _load(tmp_path / "a")
    assert len(clean) == rep.rows_kept == 900
    assert rep.rows_in == SMALL.pool.size + 975 == len(clean) + len(ledger)
    assert set(report["per_source"]) == {"synthetic", "deepscaler"}
    for name, s in report["per_source"].items():
        assert s["rows_in"] == s["kept"] + s["rejected"]
        assert s["kept"] == sum(r["source"] == name for r in clean)
    reasons = {r["reason"] for r in ledger}
    assert reasons <= set(REASONS) | {SURPLUS}
    for expected in ("malformed", "empty", "too_long", "unverifiable", "inconsistent", "duplicate",
                     "near_duplicate", "contaminated", SURPLUS):
        assert report["per_reason"][expected] > 0, expected
    assert report["validation"]["success"] and report["agents_run"] == [
        "format", "verifiability", "consistency", "decontamination", "dedup"]
    assert [r["line"] for r in clean if r["source"] == "synthetic"] == sorted(
        r["line"] for r in clean if r["source"] == "synthetic")
    assert all(r["line"] >= 1 and json.loads(r["meta"]) is not None for r in clean)
    assert len({r["id"] for r in clean}) == len(clean)


def test_rerun_is_byte_identical(tmp_path):
    run_clean(["synthetic-default"], tmp_path / "a", None, None, SMALL)
    run_clean(["synthetic-default"], tmp_path / "b", None, None, SMALL)
    for name in ("clean.parquet", "rejected.parquet", "report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    run_clean(["synthetic-default"], tmp_path / "c", None, None, replace(SMALL, seed=1))
    assert (tmp_path / "a" / "clean.parquet").read_bytes() != (tmp_path / "c" / "clean.parquet").read_bytes()


def test_hostile_files_never_crash_and_land_in_the_ledger(tmp_path):
    import pyarrow as pa

    hostile = tmp_path / "hostile.jsonl"
    _hostile_jsonl(hostile)
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"foo": ["a", "b"], "bar": [1, 2]}), wrong)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    cfg = replace(SMALL, gate=GateConfig(require_every_source=False))
    rep = run_clean([str(hostile), str(wrong), str(empty)], tmp_path / "out", ["aime24"], None, cfg)
    clean, ledger, report = _load(tmp_path / "out")
    by_line = {(r["source"], r["line"]): r for r in ledger}
    h = str(hostile)
    assert by_line[(h, 3)]["reason"] == "malformed" and "not valid JSON" in by_line[(h, 3)]["message"]
    assert by_line[(h, 5)]["reason"] == "malformed" and "invalid UTF-8" in by_line[(h, 5)]["message"]
    assert by_line[(h, 6)]["reason"] == "empty"
    assert by_line[(h, 7)]["reason"] == "malformed" and by_line[(h, 9)]["reason"] == "malformed"
    assert by_line[(h, 10)]["reason"] == "too_long"
    assert by_line[(str(wrong), 1)]["reason"] == "malformed"
    assert {(r["source"], r["line"]) for r in clean} == {(h, 1), (h, 2), (h, 11)}
    assert rep.rows_in == 13 == len(clean) + len(ledger)
    assert f"{empty}: no rows (empty source)" in report["notes"]


def test_gate_fails_the_run_when_a_source_is_lost(tmp_path):
    wrong = tmp_path / "wrong.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({"foo": ["a"]}), wrong)
    good = tmp_path / "good.jsonl"
    good.write_text('{"problem": "Compute 2+3.", "answer": "5"}\n')
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clean.parquet").write_bytes(b"stale")
    with pytest.raises(GateError, match=r"expect_column_distinct_values_to_contain_set\(source\)"):
        run_clean([str(good), str(wrong)], tmp_path / "out", ["aime24"], None, SMALL)
    assert not (tmp_path / "out" / "clean.parquet").exists()  # no stale set left behind
    assert json.loads((tmp_path / "out" / "report.json").read_text())["validation"]["success"] is False


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SourceError, match="missing.jsonl: file not found"):
        run_clean([str(tmp_path / "missing.jsonl")], tmp_path / "o", None, None, SMALL)
    with pytest.raises(SourceError, match="policy directory not found"):
        open_policy(tmp_path / "nope", SMALL.difficulty)
    assert reflect(["clean", "--source", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.jsonl: file not found" in err


def test_params_file_loads_and_main_runs(tmp_path, capsys):
    assert load_clean_config(REPO_ROOT / "params.yaml").target_size == 40_000
    params = tmp_path / "params.yaml"
    params.write_text("clean:\n  target_size: 5\n  pool: {base_rows: 30, exact_duplicates: 2, near_duplicates: 2,"
                      " eval_copies: 4, unverifiable: 4, malformed: 8, empty: 5, too_long: 1}\n"
                      "  eval_sets: {heldout_n: 20}\n")
    assert reflect(["clean", "--source", "synthetic", "--out", str(tmp_path / "o"), "--eval-sets", "gsm8k",
                 "synthetic-heldout", "--params", str(params)]) == 0
    assert "40 kept" not in capsys.readouterr().out
    assert pq.read_table(tmp_path / "o" / "clean.parquet").num_rows == 5
    params.write_text("clean:\n  target_sise: 5\n")
    assert reflect(["clean", "--source", "synthetic", "--out", str(tmp_path / "o"), "--params", str(params)]) == 2
    assert "unknown key 'target_sise'" in capsys.readouterr().err


@pytest.mark.integration
def test_embedded_default_gives_exactly_40k(tmp_path):
    rep = run_clean(["synthetic-default"], tmp_path / "clean", None, None, load_clean_config(REPO_ROOT / "params.yaml"))
    clean, ledger, report = _load(tmp_path / "clean")
    assert rep.rows_in >= 50_000 and len(clean) == 40_000 == report["rows_kept"]
    assert report["rows_in"] == len(clean) + len(ledger) == report["rows_kept"] + report["rows_rejected"]
    assert sum(report["per_reason"].values()) == len(ledger)
    assert report["validation"]["success"] and report["short_of_target"] == 0


def test_an_interrupted_write_keeps_the_previous_set_whole(tmp_path, monkeypatch):
    """The three outputs are renamed in as one: a crash while writing clean.parquet leaves the old
    report and ledger, never a new report beside an old clean.parquet."""
    out = tmp_path / "out"
    run_clean(["synthetic-default"], out, None, None, SMALL)
    before = {f: (out / f).read_bytes() for f in ("clean.parquet", "rejected.parquet", "report.json")}
    import components.data.cleaning as cleaning

    real = cleaning.write_parquet

    def dies_on_clean(table, path):
        if path.name == "clean.parquet":
            raise OSError("No space left on device")
        real(table, path)

    monkeypatch.setattr(cleaning, "write_parquet", dies_on_clean)
    with pytest.raises(OSError, match="No space left"):
        run_clean(["synthetic-default"], out, None, None, replace(SMALL, target_size=800))
    assert {f: (out / f).read_bytes() for f in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]          # no temp directory left

"""Reading hostile files: every bad record becomes a row with its line number, never a crash."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.data.sources import SourcesConfig, file_source, resolve_sources
from components.data.sources.files import SourceError, parse_json_lines, read_records


def _hostile_jsonl(path):
    good = {"problem": "Compute 2+3.", "answer": "5"}
    lines = [
        b"\xef\xbb\xbf" + json.dumps(good).encode() + b"\r\n",                  # 1: BOM + CRLF: fine
        json.dumps({"problem": "Compute 4+4.", "answer": 8}).encode() + b"\r\n",  # 2: int answer: fine
        b'{"problem": "Compute 1+1.", "answ\n',                                   # 3: truncated
        b"\n",                                                                    # 4: blank: skipped
        b'{"problem": "Comp\xfcte 2+2.", "answer": "4"}\n',                       # 5: invalid UTF-8
        json.dumps({"problem": None, "answer": "3"}).encode() + b"\n",            # 6: null problem
        json.dumps({"problem": "Compute 3+3.", "answer": ["6"]}).encode() + b"\n",  # 7: list answer
        json.dumps({"problem": 12, "answer": "6"}).encode() + b"\n",              # 8: number problem
        json.dumps(["not", "an", "object"]).encode() + b"\n",                     # 9: array
        json.dumps({"problem": "x" * 1_000_000, "answer": "1"}).encode() + b"\n",  # 10: 1 MB problem
        json.dumps({"question": "no problem column", "answer": "1"}).encode() + b"\n",  # 11: other schema
        json.dumps({"problem": "Compute 9-1.", "answer": True}).encode(),         # 12: bool, no newline
    ]
    path.write_bytes(b"".join(lines))


def test_jsonl_hostile_lines_keep_their_line_numbers(tmp_path):
    path = tmp_path / "hostile.jsonl"
    _hostile_jsonl(path)
    rows = {r.line: r for r in file_source(path).rows()}
    assert sorted(rows) == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]
    assert rows[1].problem == "Compute 2+3." and rows[1].load_error is None  # BOM and CRLF accepted
    assert rows[2].answer == "8" and rows[2].load_error is None
    assert "not valid JSON" in rows[3].load_error
    assert "invalid UTF-8" in rows[5].load_error
    assert rows[6].problem == "" and rows[6].load_error is None  # null -> empty, judged later
    assert "answer: expected text or a number, got list" in rows[7].load_error
    assert "problem: expected text, got int" in rows[8].load_error
    assert "expected a JSON object, got list" in rows[9].load_error
    assert len(rows[10].problem) == 1_000_000 and rows[10].load_error is None
    assert rows[11].problem == "no problem column"  # the generic schema reads `question`
    assert "got bool" in rows[12].load_error
    assert all(r.id == f"{path}-{r.line}" for r in rows.values())


def test_empty_file_gives_no_rows(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert list(file_source(tmp_path / "empty.jsonl").rows()) == []


def test_missing_and_unreadable_files_are_one_line_errors(tmp_path):
    with pytest.raises(SourceError, match=r"nope\.jsonl: file not found") as exc:
        file_source(tmp_path / "nope.jsonl")
    assert "\n" not in str(exc.value)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SourceError, match=r"bad\.parquet: not a readable Parquet file"):
        file_source(bad)
    with pytest.raises(SourceError, match="not a known source"):
        resolve_sources(["no-such-source"], SourcesConfig(), {})


def test_parquet_with_wrong_schema_rejects_each_row(tmp_path):
    path = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"foo": ["a", "b"], "bar": [1, 2]}), path)
    rows = list(file_source(path).rows())
    assert [r.line for r in rows] == [1, 2]
    assert all("no 'problem' field (fields: bar, foo)" in r.load_error for r in rows)


def test_parquet_with_wrong_types(tmp_path):
    path = tmp_path / "types.parquet"
    pq.write_table(pa.table({"problem": ["Compute 1+2.", None], "answer": [3, 4]}), path)
    rows = list(file_source(path).rows())
    assert (rows[0].problem, rows[0].answer) == ("Compute 1+2.", "3")
    assert rows[1].problem == "" and rows[1].load_error is None


def test_gzip_jsonl_and_json_array(tmp_path):
    gz = tmp_path / "rows.jsonl.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b'{"problem": "Compute 1+1.", "answer": "2"}\n{"problem": "Compute 2+2.", "answer": "4"}\n')
    assert [r.answer for r in file_source(gz).rows()] == ["2", "4"]
    arr = tmp_path / "rows.json"
    arr.write_text(json.dumps([{"problem": "Compute 1+1.", "answer": "2"}, 7]))
    rows = list(file_source(arr).rows())
    assert rows[0].answer == "2" and "expected a JSON object" in rows[1].load_error


def test_parse_json_lines_counts_physical_lines():
    recs = list(parse_json_lines([b"\n", b'{"a": 1}\r\n', b"  \n", b"{bad\n"]))
    assert [(line, err is None) for line, _, err in recs] == [(2, True), (4, False)]


def test_read_records_directory_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="not a regular file"):
        list(read_records(tmp_path))

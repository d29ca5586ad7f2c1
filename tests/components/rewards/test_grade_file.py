"""`reflect grade IN.jsonl --out OUT.jsonl`: every row back, in order, with `correct`; broken
lines become invalid rows with an `error`, never a crash or a dropped row."""

from __future__ import annotations

import json

import pytest

from components.rewards.grade_file import grade_jsonl

GOOD = {"id": "a", "completion": r"<think>ok</think> \boxed{\frac{14}{3}}", "reference": r"\frac{14}{3}"}
WRONG = {"id": "b", "completion": r"<think>ok</think> \boxed{5}", "reference": 6, "score": 0.5}
NO_BOX = {"id": "c", "completion": "<think>ok</think> five", "reference": "5"}
LINES = [
    json.dumps(GOOD),
    json.dumps(WRONG),
    "this is not json",
    "[1, 2]",
    "",
    json.dumps({"id": "d", "reference": "5"}),
    json.dumps({"id": "e", "completion": None, "reference": "5"}),
    json.dumps({"id": "f", "completion": "<think></think>\\boxed{2}", "reference": True}),
    json.dumps(NO_BOX),
    json.dumps({"id": "g", "completion": r"<think>x</think>\boxed{2,125}", "reference": "2125", "correct": False}),
]


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_round_trip_with_broken_lines(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "sub" / "out.jsonl"
    src.write_bytes(("\n".join(LINES) + "\n").encode() + b'{"id": "h", "completion": "\xff"}')
    counts = grade_jsonl(src, out)
    rows = _read(out)
    assert counts == {"rows": 11, "correct": 2, "incorrect": 2, "invalid": 7}
    assert len(rows) == 11
    assert [r.get("id") for r in rows] == ["a", "b", None, None, None, "d", "e", "f", "c", "g", None]
    assert [r["correct"] for r in rows] == [True, False] + [False] * 7 + [True, False]
    assert rows[0] == {**GOOD, "correct": True}
    assert rows[1] == {**WRONG, "correct": False}  # other fields kept, numeric reference read
    assert rows[9]["correct"] is True  # a stale `correct` is overwritten
    errors = {i: rows[i].get("error", "") for i in range(11)}
    assert "line 3: not JSON" in errors[2] and rows[2]["raw"] == "this is not json"
    assert "line 4: expected a JSON object, got list" in errors[3] and rows[3]["raw"] == [1, 2]
    assert "line 5: blank line" in errors[4]
    assert "line 6: missing field 'completion'" in errors[5]
    assert "line 7: field 'completion' must be text" in errors[6]
    assert "line 8: field 'reference' must be text or a number, got bool" in errors[7]
    assert "line 11: not UTF-8" in errors[10]
    assert all("error" not in rows[i] for i in (0, 1, 8, 9))


def test_regrading_the_output_gives_the_same_verdicts(tmp_path):
    src, out, again = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "again.jsonl"
    src.write_text("\n".join(LINES), encoding="utf-8")
    first = grade_jsonl(src, out)
    second = grade_jsonl(out, again)
    assert first == second
    assert [r["correct"] for r in _read(out)] == [r["correct"] for r in _read(again)]


def test_in_place_regrade(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(NO_BOX) + "\n", encoding="utf-8")
    assert grade_jsonl(path, path) == {"rows": 2, "correct": 1, "incorrect": 1, "invalid": 0}
    assert [r["correct"] for r in _read(path)] == [True, False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]  # no temporary left


def test_empty_file(tmp_path):
    src = tmp_path / "empty.jsonl"
    src.write_text("", encoding="utf-8")
    assert grade_jsonl(src, tmp_path / "out.jsonl") == {"rows": 0, "correct": 0, "incorrect": 0, "invalid": 0}
    assert (tmp_path / "out.jsonl").read_text() == ""


def test_missing_input_is_a_one_line_error_naming_the_path(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError) as info:
        grade_jsonl(missing, tmp_path / "out.jsonl")
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(ValueError, match="not a file"):
        grade_jsonl(tmp_path, tmp_path / "out.jsonl")

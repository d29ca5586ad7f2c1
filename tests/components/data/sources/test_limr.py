"""LIMR: `context` is the problem, `id` the row id (real rows read from ../shared, not bundled)."""

import json

from components.data.sources import file_source


def test_limr_real_rows(shared_dir):
    path = shared_dir / "data" / "train_samples" / "limr" / "limr_train.jsonl"
    rows = list(file_source(path).rows())  # schema detected from context_messages
    assert len(rows) == 1389 and rows[0].meta["schema"] == "limr"
    assert rows[0].problem.startswith("For how many integer values of $x$") and rows[0].answer == "5"
    assert rows[0].id == "29ae301a-69f4-429c-abda-77a5e8cae75b" and rows[0].solution is None
    assert rows[0].meta["source"] == "olympiads.23k"


def test_limr_without_context_uses_the_user_turn(tmp_path):
    path = tmp_path / "limr.jsonl"
    path.write_text(json.dumps({"id": "a", "answer": "2", "context_messages": [
        {"role": "system", "content": "Reason step by step."},
        {"role": "user", "content": "Compute 1+1."}]}) + "\n" + json.dumps(
        {"id": "b", "answer": "2", "context_messages": "oops"}) + "\n")
    rows = list(file_source(path).rows())
    assert rows[0].problem == "Compute 1+1."
    assert "context_messages: expected a list" in rows[1].load_error

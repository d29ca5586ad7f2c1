"""OpenR1-Math-220k: uuid as id, generations (lists) kept out of meta."""

from components.data.sources import file_source


def test_openr1_rows(fixtures):
    rows = list(file_source(fixtures / "openr1.jsonl").rows())
    assert rows[0].meta["schema"] == "openr1"
    assert rows[0].id == "0b6c1f2e-7a31-5d1b-9a7e-2f1d6b0c4e11"
    assert (rows[0].answer, rows[1].answer) == ("9", "56")
    assert "generations" not in rows[0].meta and rows[0].meta["correctness_count"] == 1
    assert rows[1].solution == "$7\\times 8=\\boxed{54}$."

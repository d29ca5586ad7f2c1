"""NuminaMath-CoT (answer from the boxed solution) and NuminaMath-1.5 (answer column)."""

from components.data.sources import SCHEMAS, file_source


def test_cot_answer_comes_from_the_last_box(fixtures):
    rows = list(file_source(fixtures / "numina_cot.jsonl").rows())  # schema detected: no answer column
    assert [r.meta["schema"] for r in rows] == ["numina"] * 3
    assert rows[0].answer == "3" and rows[0].meta["source"] == "cn_k12"
    assert rows[0].meta["answer_from"] == "solution" and "messages" not in rows[0].meta
    assert rows[1].answer == ""  # a proof without a box: the format agent calls it empty
    assert rows[2].answer == "\\frac{5}{6}"
    assert rows[0].id == f"{fixtures / 'numina_cot.jsonl'}-1"


def test_numina_15_keeps_its_answer_column(fixtures):
    rows = list(file_source(fixtures / "numina15.jsonl", SCHEMAS["numina"]).rows())
    assert [r.answer for r in rows] == ["9", "proof", "notfound"]
    assert rows[1].meta["question_type"] == "proof" and rows[2].meta["synthetic"] is True
    assert rows[0].solution.endswith("\\boxed{9}$.")

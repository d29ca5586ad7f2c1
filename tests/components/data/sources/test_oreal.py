"""OREAL-RL prompts: question / gold_answer, pass_rate kept for stratification."""

from components.data.sources import file_source


def test_oreal_rows(fixtures):
    rows = list(file_source(fixtures / "oreal.jsonl").rows())
    assert rows[0].meta["schema"] == "oreal"
    assert (rows[0].problem, rows[0].answer, rows[0].meta["pass_rate"]) == ("If $3x-7=11$, what is $x$?", "6", 0.9375)
    assert rows[2].answer == "C"

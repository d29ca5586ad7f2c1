"""The dedup agent: exact copies, formatting variants and fuzzy copies collapse to one row."""

from components.data.agents.dedup import DedupAgent
from components.data.pool import dollars, latex_spacing, number_format, spaced
from components.data.synthetic import generate
from tests.components.data.agents.conftest import make_row


def _review(problems, answers=None, solutions=None):
    rows = [make_row(p, (answers or ["5"] * len(problems))[i], (solutions or [None] * len(problems))[i], line=i + 1)
            for i, p in enumerate(problems)]
    return DedupAgent().review(rows)


def test_exact_and_formatting_variants_collide():
    base = "Compute 1200+5*3."
    variants = [base, base, "  Compute 1200+5*3. ", spaced(base), latex_spacing(base), dollars(base),
                number_format(base), "Compute 1{,}200 + 5\\cdot 3.", "Compute 1,200+5.0*3."]
    verdicts = _review(variants, ["1215"] * len(variants))
    assert verdicts[0].status == "pass"
    assert [v.reason for v in verdicts[1:3]] == ["duplicate", "duplicate"]  # whitespace-collapsed text
    assert all(v.reason == "near_duplicate" for v in verdicts[3:]), verdicts
    assert "test:1 (test-1)" in verdicts[5].message


def test_fuzzy_copy_of_a_real_problem(real_rows):
    original = real_rows[642]
    edited = original.problem.replace("Find ", "Determine ", 1).rstrip(".")
    rows = [original, make_row(edited, original.answer, line=99, source="copy")]
    verdicts = DedupAgent().review(rows)
    assert verdicts[0].status == "pass" and verdicts[1].reason == "near_duplicate"
    assert "estimated Jaccard" in verdicts[1].message


def test_different_numbers_or_answers_are_not_duplicates():
    verdicts = _review(["Compute 12+5*3.", "Compute 12+5*4.", "Compute 3+4*2.", "Compute 3*4+2."],
                       ["27", "32", "11", "14"])
    assert all(v.status == "pass" for v in verdicts)


def test_distinct_synthetic_problems_survive():
    problems = list(generate(3000, 5))
    rows = [make_row(p.problem, p.answer, line=i + 1) for i, p in enumerate(problems)]
    verdicts = DedupAgent().review(rows)
    lost = [(r.problem, v.message) for r, v in zip(rows, verdicts) if v.status != "pass"]
    assert len(lost) <= 10, lost[:5]  # only same-numbers, same-answer one-operator twins may collide


def test_representative_prefers_a_row_with_a_solution():
    rows = [make_row("Compute 2+3.", "5", None, line=1), make_row("Compute 2 + 3.", "5", "\\boxed{5}", line=2)]
    verdicts = DedupAgent().review(rows)
    assert verdicts[1].status == "pass" and verdicts[0].reason == "near_duplicate"


def test_unreadable_rows_are_skipped():
    verdicts = DedupAgent().review([make_row(load_error="x"), make_row(problem="")])
    assert [v.status for v in verdicts] == ["skip", "skip"]


def test_conflicting_answers_are_named():
    verdicts = _review(["Compute 2+3.", "Compute 2+3."], ["5", "6"])
    assert verdicts[1].reason == "duplicate" and "answers differ: '6' vs '5'" in verdicts[1].message

"""The verifiability agent: proofs, placeholders, prose, bare choice letters, unparseable answers."""

import pytest

from components.data.agents.verifiability import VerifiabilityAgent
from tests.components.data.agents.conftest import make_row


def test_real_rows_are_verifiable(real_rows):
    verdicts = VerifiabilityAgent().review(real_rows)
    assert all(v.status == "pass" for v in verdicts), [v for v in verdicts if v.status != "pass"][:3]


def test_real_math500_answers(shared_dir):
    import json

    rows = [json.loads(x) for x in (shared_dir / "data" / "eval" / "math500.jsonl").read_text().splitlines()]
    agent = VerifiabilityAgent()
    verdicts = [agent.check(make_row(r["problem"], r["answer"])) for r in rows[:120]]
    rejected = [(r["answer"], v.message) for r, v in zip(rows, verdicts) if v.status == "reject"]
    assert len(rejected) <= 6, rejected  # MATH answers include words such as "\text{Evelyn}"


@pytest.mark.parametrize("problem, answer, fragment", [
    ("Prove that the sum of two odd integers is even.", "proof", "placeholder"),
    ("Show that $n^3-n$ is divisible by 6.", "0", "proof problem"),
    ("Compute 2+3.", "See solution", "placeholder"),
    ("Compute 2+3.", "notfound", "placeholder"),
    ("Compute 2+3.", "\\text{QED}", "placeholder"),
    ("Which number is prime?", "(C)", "choice letter"),
    ("Describe the graph of $y=2x$.", "a straight line through the origin with slope two", "prose"),
    ("Compute 2+3.", "$$", "cannot parse"),
])
def test_hostile_rows(problem, answer, fragment):
    v = VerifiabilityAgent().check(make_row(problem, answer))
    assert (v.status, v.reason) == ("reject", "unverifiable") and fragment in v.message


def test_kept_cases():
    agent = VerifiabilityAgent()
    with_options = "Which is prime? $\\textbf{(A)}\\ 4 \\qquad \\textbf{(B)}\\ 6 \\qquad \\textbf{(C)}\\ 7$"
    assert agent.check(make_row(with_options, "C")).status == "pass"
    assert agent.check(make_row("Show that x=2 and find $x^2$.", "4")).status == "pass"
    assert agent.check(make_row("Compute 2+3.", "\\frac{10}{2}")).status == "pass"
    assert agent.check(make_row("Who won?", "\\text{Evelyn}")).status == "pass"
    assert agent.check(make_row(answer="")).status == "skip"

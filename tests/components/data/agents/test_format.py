"""The format agent on real rows and hand-made hostile ones."""

import pytest

from components.data.agents.format import FormatAgent, FormatConfig, brace_error
from tests.components.data.agents.conftest import make_row


def test_real_rows_mostly_pass(real_rows):
    verdicts = FormatAgent().review(real_rows)
    rejected = [(r.line, v.reason) for r, v in zip(real_rows, verdicts) if v.status == "reject"]
    assert len(rejected) <= 5, rejected  # real AIME text is clean; a few very long solutions at most


@pytest.mark.parametrize("row, reason, fragment", [
    (make_row(load_error="not valid JSON (Expecting ',' at column 9)"), "malformed", "not valid JSON"),
    (make_row(problem="   \n"), "empty", "problem is empty"),
    (make_row(answer=""), "empty", "answer is empty"),
    (make_row(problem="Compute 1+1. " * 80_000), "too_long", "problem has 1,040,000 characters"),
    (make_row(answer="1" * 300), "too_long", "answer has 300"),
    (make_row(problem="Compute \x0crac{1}{2}."), "malformed", "U+000C"),
    (make_row(problem="Compute 2\ufffd+3."), "malformed", "U+FFFD"),
    (make_row(problem="#@%&*^~|<> #@%&*^~|<>"), "malformed", "mostly symbols"),
    (make_row(problem="Compute \\frac{1}{2."), "malformed", "unbalanced braces: 1 unclosed"),
    (make_row(answer="\\frac{1}{2"), "malformed", "answer has unbalanced"),
])
def test_hostile_rows(row, reason, fragment):
    v = FormatAgent().check(row)
    assert (v.status, v.reason) == ("reject", reason) and fragment in v.message


def test_escaped_braces_and_limits():
    assert FormatAgent().check(make_row(problem="Find the set \\{1, 2\\} and $\\frac{1}{2}$.")).status == "pass"
    assert brace_error("}{") == "'}' without '{' at character 0"
    assert FormatAgent(FormatConfig(max_problem_chars=5)).check(make_row()).reason == "too_long"

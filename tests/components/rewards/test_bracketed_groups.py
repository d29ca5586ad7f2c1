"""Commas inside brackets separate items; only a lone number has thousands groups, and grading
time is bounded whatever the answer's length."""

from __future__ import annotations

import pytest

from components.rewards.grading import answers_equal, is_verifiable, reward
from components.rewards.normalization import normalize_answer

# (pred, gold, expected) with items of three digits: tuples, intervals, unions, sets.
BRACKETED = [
    ("100", "[0,100]", False, "number-is-not-an-interval-ending-in-it"),
    ("1234", "(1,234)", False, "number-is-not-a-pair"),
    ("[0, 100]", "[0,100]", True, "interval-spacing"),
    ("[0,100]", "[0, 100]", True, "interval-spacing-gold"),
    ("(1, 234)", "(1,234)", True, "pair-spacing"),
    ("(1,234)", "(234,1)", False, "pair-order"),
    ("(1,234)", "[1,234]", False, "pair-is-not-closed-interval"),
    (r"(2, 12) \cup (12, 102)", r"(2,12) \cup (12,102)", True, "math500-union"),
    (r"(2,12) \cup (12,102)", r"(2, 12) \cup (12, 102)", True, "math500-union-reversed"),
    (r"(2,12) \cup (12,102)", r"(2,12102)", False, "union-is-not-an-interval"),
    (r"\{1,234\}", "1234", False, "set-is-not-a-number"),
    (r"\{1,234\}", r"\{234, 1\}", True, "set-order-free"),
    (r"\left\{ 5,100,200 \right\}", r"\{200,5,100\}", True, "set-three-items"),
    ("(-3,100]", "(-3, 100]", True, "half-open-interval"),
    (r"(-\infty,100) \cup (200,\infty)", r"(-\infty, 100)\cup(200, \infty)", True, "union-with-infinity"),
    ("(1,000,5)", "(1, 0, 5)", True, "triple-of-three-digit-items"),
    ("(1,000,5)", "(1000,5)", False, "plain-comma-in-tuple-is-a-separator"),
    (r"(10,\!080, 2)", "(10080, 2)", True, "explicit-grouping-in-tuple"),
    (r"(1{,}000, 5)", "(1000, 5)", True, "braced-comma-grouping-in-tuple"),
    (r"(1\,000, 5)", "(1000, 5)", True, "thin-space-grouping-in-tuple"),
    ("1,000", "1000", True, "lone-number-still-grouped"),
    (r"\frac{1,000}{3}", r"\frac{1000}{3}", True, "argument-braces-are-not-brackets"),
    (r"x \in [0,100]", "[0, 100]", True, "membership-interval"),
]


@pytest.mark.parametrize("pred, gold, expected", [c[:3] for c in BRACKETED], ids=[c[3] for c in BRACKETED])
def test_bracketed_digit_groups(pred, gold, expected):
    assert answers_equal(pred, gold) is expected


def test_reward_of_the_math500_union():
    done = r"<think>so</think> \boxed{(2, 12) \cup (12, 102)}"
    assert reward(done, r"(2,12) \cup (12,102)") == 1.0


LONG_TEXT = r"\text{" * 4700          # 28 KB, as a truncated completion writes it


@pytest.mark.parametrize("pred, gold", [
    (LONG_TEXT, "5"), ("5", LONG_TEXT), ("1" * 2000, "1" * 1999 + "2"),
    ("(" * 3000 + "5" + ")" * 3000, "5"), (r"\boxed{" * 3000 + "5" + "}" * 3000, "5"),
], ids=["text-pred", "text-gold", "long-digits", "deep-parens", "deep-boxes"])
def test_answers_over_the_limit_are_not_equal(pred, gold):
    assert answers_equal(pred, gold) is False
    assert is_verifiable(pred) is (pred == "5")


def test_an_identical_long_answer_still_matches():
    assert answers_equal("1" * 2000, "1" * 2000)


def test_normalising_a_long_text_answer_is_linear():
    # Normalising is used outside the grader too (cleaning); it must not rescan per command.
    assert normalize_answer(LONG_TEXT * 4) == "{" * 4700 * 4

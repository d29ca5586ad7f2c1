"""The answer grader (docs/method.md section 3, reward): extraction, reward values, and the hostile
cases where math-verify's defaults are too lenient or too strict, each a named case."""

from __future__ import annotations

import doctest
from concurrent.futures import ThreadPoolExecutor

import pytest

import components.rewards.equivalence as equivalence
import components.rewards.grade_file as grade_file
import components.rewards.grading as grading
import components.rewards.normalization as normalization
import components.data.answer_pairs as answer_pairs
from components.rewards.grading import (answers_equal, extract_boxed, final_answer, is_correct,
                                        is_verifiable, reward)

# (pred, gold, expected): a wrong answer graded right is reward hacking; a right one graded
# wrong is noise in the reward. Ids name the rule each case pins down.
HOSTILE = [
    # numbers: exact for rationals (math-verify's default rounds floats to 6 places)
    ("0.3333334", r"\frac{1}{3}", False, "rounded-decimal-7-places-is-not-a-third"),
    ("0.333333", r"\frac13", False, "rounded-decimal-6-places-is-not-a-third"),
    ("0.3333333333", "1/3", False, "any-finite-decimal-is-not-a-third"),
    (r"\frac{2}{6}", r"\frac13", True, "equal-fractions"),
    ("7.0000001", "7", False, "near-integer-is-not-the-integer"),
    ("1000000.4", "1000000", False, "large-near-integer"),
    (r"\sqrt{2}", "1.41421356237", True, "irrational-vs-11-digit-decimal-within-1e-9"),
    ("1.414214", r"\sqrt{2}", False, "irrational-vs-7-digit-decimal"),
    ("3.14159", r"\pi", False, "pi-to-5-places"),
    (r"\frac{1}{\sqrt3}", r"\frac{\sqrt{3}}{3}", True, "rationalised-denominator"),
    (r"2\sqrt{2}", r"\sqrt8", True, "simplified-radical"),
    ("1e3", "1000", True, "e-notation"),
    ("1.5e-3", "0.0015", True, "negative-e-notation"),
    (r"1.5\times10^{3}", "1500", True, "times-ten-notation"),
    (r"0.\overline{3}", r"\frac{1}{3}", True, "repeating-decimal"),
    (r"0.\overline{36}", r"\frac{4}{11}", True, "repeating-decimal-two-digits"),
    (r"0.1\overline{6}", r"\frac{1}{6}", True, "repeating-decimal-with-head"),
    ("25", "025", True, "aime-leading-zero-gold"),
    ("025", "25", True, "aime-leading-zero-pred"),
    ("250", "025", False, "aime-leading-zero-not-trailing"),
    ("9/5", r"1\frac{4}{5}", True, "mixed-number"),
    (r"\frac{4}{5}", r"1\frac{4}{5}", False, "mixed-number-is-not-a-product"),
    ("-5", "5", False, "sign"),
    (r"\frac{1}{0}", "5", False, "division-by-zero"),
    # percent (MATH-grader convention: the sign is dropped, 50% == 50, not 0.5)
    (r"50\%", "50", True, "percent-pred"),
    ("50", r"50\%", True, "percent-gold"),
    ("0.5", r"50\%", False, "percent-is-not-a-fraction"),
    # thousands separators
    ("1,000", "1000", True, "thousands-comma"),
    ("1 000", "1000", True, "thousands-space"),
    (r"1\,000", "1000", True, "thousands-latex-thin-space"),
    ("1\u2009000", "1000", True, "thousands-unicode-thin-space"),
    ("1\u202f000", "1000", True, "thousands-narrow-no-break-space"),
    (r"10,\!080", "10080", True, "thousands-math-style"),
    ("1,2", "12", False, "pair-is-not-twelve"),
    ("12", "1,2", False, "twelve-is-not-a-pair"),
    ("1, 234", "1234", False, "comma-space-is-a-list"),
    ("3 5", "8", False, "digits-apart-are-not-a-sum"),
    ("3 5", "35", False, "digits-apart-are-not-a-number"),
    (r"2 \frac{1}{2}", r"\frac{5}{2}", True, "spaced-mixed-number"),
    # unicode math
    ("½", r"\frac{1}{2}", True, "unicode-half"),
    ("2½", r"\frac{5}{2}", True, "unicode-mixed-number"),
    ("√2", r"\sqrt{2}", True, "unicode-root"),
    ("3√2", r"3\sqrt{2}", True, "unicode-root-coefficient"),
    ("2π", r"2\pi", True, "unicode-pi"),
    ("−5", "-5", True, "unicode-minus"),
    # tuples, sets, lists, intervals
    ("(1,2)", r"\{1,2\}", False, "tuple-is-not-a-set"),
    (r"\{1,2\}", "(1,2)", False, "set-is-not-a-tuple"),
    ("(2,1)", "(1,2)", False, "tuple-order-matters"),
    (r"\{2,1\}", r"\{1,2\}", True, "set-order-does-not-matter"),
    ("2,1", "1,2", True, "solution-list-order-does-not-matter"),
    (r"\{2,1\}", "1,2", True, "set-vs-solution-list"),
    ("[1,2]", "(1,2)", False, "closed-vs-open"),
    ("1,2", "(1,2)", True, "list-vs-tuple-in-order"),
    ("2,1", "(1,2)", False, "list-vs-tuple-out-of-order"),
    ("1,2", "[1,2]", False, "list-is-not-an-interval"),
    (r"(-\infty,0)", r"(-\infty, 0]", False, "half-open-interval"),
    (r"(3,\frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)", True, "left-right-tuple"),
    (r"(\frac{\pi}{2},3)", r"\left( 3, \frac{\pi}{2} \right)", False, "left-right-tuple-swapped"),
    (r"1+\sqrt{19}, 1-\sqrt{19}", r"1 \pm \sqrt{19}", True, "plus-minus-as-list"),
    (r"1+\sqrt{19}", r"1 \pm \sqrt{19}", False, "plus-minus-needs-both"),
    (r"-2,1+\sqrt5,1-\sqrt{5}", r"\{1\pm\sqrt{5},-2\}", True, "plus-minus-inside-set"),
    (r"(9,36)\cup(0,9)", r"(0,9) \cup (9,36)", True, "union-order"),
    ("(0,36)", r"(0,9) \cup (9,36)", False, "union-is-not-the-hull"),
    ("[-2,7]", r"x \in [-2,7]", True, "membership-stripped"),
    (r"-2\le x\le 7", r"x \in [-2,7]", True, "inequality-vs-interval"),
    ("5,6", "5", False, "two-answers-for-one"),
    (r"\pm 5", "5", False, "plus-minus-for-one"),
    (r"\{5\}", "5", True, "singleton-set"),
    (r"(-1/3,2/3,5/3)", r"\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}", True, "tuple-vs-column-vector"),
    (r"(2/3,-1/3,5/3)", r"\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}", False, "vector-order"),
    (r"\begin{pmatrix}0&-1\\-1&0\end{pmatrix}", r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}", False,
     "matrix-entries"),
    # choice letters
    ("B", r"\text{(B)}", True, "bare-letter-vs-text-letter"),
    ("B) 42", "(B)", True, "letter-with-text-vs-letter"),
    ("(B) 42", "B", True, "parenthesised-letter-with-text"),
    ("B", "(B) 42", True, "letter-vs-letter-with-text"),
    ("42", "(B) 42", True, "text-vs-letter-with-text"),
    ("(B) 42", "42", True, "letter-with-text-vs-text"),
    ("42 (B)", "42", True, "letter-after-text"),
    (r"5 \Longrightarrow \text{B}", "5", True, "implies-letter"),
    ("(C)", "(B)", False, "other-letter"),
    ("(B) 43", "(B) 42", False, "right-letter-wrong-text"),
    ("(B) or (C)", "(B)", False, "two-letters"),
    ("(B)(C)", "(B)", False, "two-letters-adjacent"),
    ("b", r"\text{(B)}", False, "lowercase-is-a-variable"),
    ("2(A)", "2A", True, "product-is-not-a-label"),
    # text, units, assignments
    ("Evelyn", r"\text{Evelyn}", True, "text-answer"),
    ("East", r"\text{east}", True, "text-case"),
    ("tase", r"\text{east}", False, "anagram-is-not-the-word"),
    (r"\text{west}", r"\text{east}", False, "other-word"),
    ("5", r"5 \text{ cm}", True, "text-unit"),
    ("15", r"15\mbox{ cm}^2", True, "mbox-unit-squared"),
    ("12 dollars", "12", True, "bare-unit-word"),
    (r"\$18.90", "18.9", True, "dollars"),
    ("90", r"90^\circ", True, "degrees"),
    (r"90^{\circ}", "90", True, "degrees-braced"),
    ("5", "x = 5", True, "assignment-gold"),
    ("x=5", "5", True, "assignment-pred"),
    ("2x+3", "y = 2x + 3", True, "line-equation"),
    (r"\dfrac{17}{50}", r"\frac{17}{50}", True, "dfrac"),
    (r"\tfrac{17}{50}", "0.34", True, "tfrac-vs-decimal"),
    ("204", "204_5", True, "base-digits-without-subscript"),
    ("54", "204_5", False, "base-value-in-decimal"),
    ("204_6", "204_5", False, "other-base"),
    # symbolic (math-verify, strict variables)
    ("10x-14y+22z+8=0", "5x - 7y + 11z + 4 = 0", True, "scaled-plane-equation"),
    ("2n", "2k", False, "other-variable"),
    ("q-p", "p-q", False, "negated-expression"),
    ("-q+p", "p-q", True, "reordered-expression"),
    ("7i-2", "-2 + 7i", True, "complex-reordered"),
    # degenerate and hostile input: a defined False, fast, never an exception
    ("", "5", False, "empty-pred"),
    ("5", "", False, "empty-gold"),
    ("1e99999", "1000", False, "huge-exponent"),
    ("9^{9^{9^{9}}}", "1", False, "power-tower"),
    ("9^{9^{9}}", "9^{9^{9}}", True, "power-tower-equal-text"),
    ("\\frac{1}{", "5", False, "unbalanced-brace"),
]


@pytest.mark.parametrize("pred,gold,expected", [pytest.param(*c[:3], id=c[3]) for c in HOSTILE])
def test_hostile_cases(pred, gold, expected):
    assert answers_equal(pred, gold) is expected


def test_doctests_pass():
    for module in (grading, normalization, equivalence, grade_file, answer_pairs):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__
    assert doctest.testmod(grading).attempted > 0


def test_extraction_takes_last_box_after_last_think():
    text = r"<think>maybe \boxed{1}</think> draft \boxed{2} </think> final \boxed{\frac{14}{3}}."
    assert final_answer(text) == r"\frac{14}{3}"
    assert extract_boxed(r"\fbox{3} then \boxed{4}") == "4"
    assert extract_boxed(r"\boxed{4} then \fbox{3}") == "3"
    assert extract_boxed(r"so \boxed 7.") == "7"
    assert extract_boxed(r"\boxed{a{b}c}") == "a{b}c"


@pytest.mark.parametrize("completion", [
    pytest.param(r"7+5=12 \boxed{12}", id="no-think-close"),
    pytest.param("<think>7+5=12</think> twelve", id="no-box"),
    pytest.param(r"<think>\boxed{12}</think> twelve", id="box-only-inside-think"),
    pytest.param(r"<think>ok</think> \boxed{}", id="empty-box"),
    pytest.param(r"<think>ok</think> \boxed{12", id="unclosed-box"),
    pytest.param("", id="empty-completion"),
])
def test_malformed_completion_is_reward_zero_not_an_error(completion):
    assert final_answer(completion) is None
    assert reward(completion, "12") == 0.0
    assert is_correct(completion, "12") is False


def test_reward_values_and_custom_format_reward():
    good, bad = r"<think>a</think> \boxed{12}", r"<think>a</think> \boxed{13}"
    assert reward(good, "12") == 1.0
    assert reward(bad, "12") == 0.1
    assert reward(bad, "12", format_reward=0.0) == 0.0


def test_non_text_completion_is_a_type_error():
    with pytest.raises(TypeError, match="completion"):
        reward(None, "12")  # type: ignore[arg-type]


def test_grading_works_in_worker_threads():
    # math-verify's signal timeout only works in the main thread; the grader turns it off there.
    pairs = [("(x+1)^2", "x^2+2x+1", True), ("(x+1)^3", "x^2+2x+1", False),
             (r"\sqrt{18}", r"3\sqrt{2}", True), ("0.3333334", r"\frac13", False)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda c: answers_equal(c[0], c[1]), pairs))
    assert got == [c[2] for c in pairs]


@pytest.mark.parametrize("answer,expected", [
    (r"\frac{14}{3}", True), (r"\left( 3, \frac{\pi}{2} \right)", True), (r"\text{Evelyn}", True),
    (r"\text{(B)}", True), ("2,125", True), (r"x^2+1", True), ("", False), ("$ $", False),
    ("\\frac{1}{", False),
])
def test_is_verifiable(answer, expected):
    assert is_verifiable(answer) is expected

"""Equivalence of normalised answers: structure from the text, exact rationals, the tolerance
contract (exact for rationals, relative 1e-9 against irrationals), math-verify last."""

from __future__ import annotations

from fractions import Fraction

import pytest

from components.rewards.equivalence import REL_TOL, equivalent, exact_value, shape_of, split_top


@pytest.mark.parametrize("text,value", [
    ("025", Fraction(25)), ("-7", Fraction(-7)), (".0000672", Fraction(672, 10**7)),
    ("1e3", Fraction(1000)), ("2.5E-2", Fraction(1, 40)), (r"1.5\times10^{3}", Fraction(1500)),
    (r"3\cdot10^4", Fraction(30000)), (r"\frac{14}{3}", Fraction(14, 3)), (r"-\frac{3}{8}", Fraction(-3, 8)),
    (r"\frac{0.5}{2}", Fraction(1, 4)), (r"137\frac{1}{2}", Fraction(275, 2)), (r"-1\frac{1}{2}", Fraction(-3, 2)),
    (r"0.\overline{3}", Fraction(1, 3)), (r"1.\overline{142857}", Fraction(8, 7)), (r"0.1\overline{6}", Fraction(1, 6)),
    (r"0.\dot{3}", Fraction(1, 3)),
    (r"\frac{1}{0}", None), ("x", None), (r"\sqrt{2}", None), ("1e99999", None), ("1,2", None),
])
def test_exact_value(text, value):
    assert exact_value(text) == value


def test_shapes():
    assert shape_of("(1,2)") == ("ordered", "()", ("1", "2"))
    assert shape_of("[0,1)") == ("ordered", "[)", ("0", "1"))
    assert shape_of(r"\{1,2\}") == ("unordered", "{}", ("1", "2"))
    assert shape_of("1,2") == ("unordered", "", ("1", "2"))
    assert shape_of(r"1\pm\sqrt{19}") == ("unordered", "", (r"1+\sqrt{19}", r"1-\sqrt{19}"))
    assert shape_of("(a+5)(b+2)") == ("scalar", "", ("(a+5)(b+2)",))
    assert shape_of("(5)") == ("scalar", "", ("5",))
    assert shape_of(r"\begin{pmatrix}1&2\\3&4\end{pmatrix}")[0] == "matrix"
    assert shape_of(r"(0,9)\cup(9,36)")[0] == "union"
    assert split_top(r"(1,2),\{3,4\},5", ",") == ["(1,2)", r"\{3,4\}", "5"]


def test_tolerance_contract():
    assert REL_TOL == 1e-9
    assert not equivalent("0.3333333333", r"\frac{1}{3}")  # two rationals: exact
    assert equivalent("1.4142135624", r"\sqrt{2}")  # relative error 1.7e-11
    assert not equivalent("1.41421356", r"\sqrt{2}")  # relative error 2.6e-9
    assert equivalent("314159.26535898", r"100000\pi")  # relative, not absolute
    assert not equivalent(r"\sqrt{2}", "x")  # a number never equals a free variable


def test_equivalent_is_false_on_unparseable_text():
    assert not equivalent(r"\frac{", "5")
    assert not equivalent("@@@", "5")
    assert equivalent("@@@", "@@@")

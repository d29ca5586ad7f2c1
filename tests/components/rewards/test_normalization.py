"""Answer normalisation (docs/method.md section 3): one canonical string per way of writing an answer."""

from __future__ import annotations

import pytest

from components.rewards.normalization import normalize_answer, read_group


@pytest.mark.parametrize("raw,expected", [
    pytest.param(r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})", id="left-right-spaces"),
    pytest.param(r"$\dfrac{17}{50}$", r"\frac{17}{50}", id="dollars-dfrac"),
    pytest.param(r"\(\tfrac 34\)", r"\frac{3}{4}", id="inline-math-tfrac-unbraced"),
    pytest.param(r"\frac9{19}", r"\frac{9}{19}", id="half-braced-frac"),
    pytest.param(r"11\sqrt2", r"11\sqrt{2}", id="unbraced-sqrt"),
    pytest.param(r"\boxed{5}", "5", id="boxed-wrapper"),
    pytest.param(r"10,\!080", "10080", id="math-thousands"),
    pytest.param(r"11,\! 111,\! 111,\! 100", "11111111100", id="math-thousands-spaced"),
    pytest.param(r"\$32,\!348", "32348", id="dollar-thousands"),
    pytest.param("1\u2009000\u2009000", "1000000", id="thin-space-thousands"),
    pytest.param("1{,}000", "1000", id="braced-comma-thousands"),
    pytest.param("1,000.5", "1000.5", id="thousands-with-decimals"),
    pytest.param("1,2", "1,2", id="pair-kept"),
    pytest.param("3, 5, 7", "3,5,7", id="list-kept"),
    pytest.param("1,000,00", "1,000,00", id="irregular-groups-kept"),
    pytest.param(r"5.4 \text{ cents}", "5.4", id="text-unit"),
    pytest.param(r"864 \mbox{ inches}^2", "864", id="mbox-unit-squared"),
    pytest.param(r"\frac{270}7\text{ degrees}", r"\frac{270}{7}", id="unit-after-fraction"),
    pytest.param(r"\text{Evelyn}", "Evelyn", id="text-answer-kept"),
    pytest.param(r"\text{(B)}", "(B)", id="choice-kept"),
    pytest.param(r"3+4\mathrm{i}", "3+4i", id="roman-i-is-not-a-unit"),
    pytest.param(r"2 \text{ and } 3", "2,3", id="and-is-a-list"),
    pytest.param("1 or 5", "1,5", id="or-is-a-list"),
    pytest.param(r"106^\circ", "106", id="degrees"),
    pytest.param("45°", "45", id="unicode-degrees"),
    pytest.param(r"f \circ g", r"f\circ g", id="composition-is-not-degrees"),
    pytest.param(r"50\%", "50", id="percent"),
    pytest.param("x = 5", "5", id="assignment"),
    pytest.param(r"x \in [-2,7]", "[-2,7]", id="membership"),
    pytest.param("5x - 7y + 11z + 4 = 0", "5x-7y+11z+4=0", id="equation-kept"),
    pytest.param(r"\cot x", r"\cot x", id="command-space-kept"),
    pytest.param(r"\pi r^2", r"\pi r^2", id="pi-r-kept"),
    pytest.param(r"-1/3", r"-\frac{1}{3}", id="slash-fraction"),
    pytest.param(r"\begin{pmatrix} 1/5 \\ -18/5 \end{pmatrix}", r"\begin{pmatrix}\frac{1}{5}\\-\frac{18}{5}\end{pmatrix}",
                 id="slash-fractions-in-matrix"),
    pytest.param("½", r"\frac{1}{2}", id="unicode-half"),
    pytest.param("√(x+1)", r"\sqrt{x+1}", id="unicode-root-parenthesised"),
    pytest.param("√25", r"\sqrt{25}", id="unicode-root-whole-number"),
    pytest.param("x²−1", "x^{2}-1", id="unicode-superscript-minus"),
    pytest.param("１２", "12", id="full-width-digits"),
    pytest.param("16''", "16", id="inches-primes"),
    pytest.param(r"{-}\sqrt3+i", r"-\sqrt{3}+i", id="braced-minus"),
    pytest.param(r"\Big\{x\ |\ 2 < x < 3\Big\}", r"\{x|2<x<3\}", id="set-builder"),
    pytest.param("5.", "5", id="trailing-period"),
    pytest.param("  $ $ ", "", id="nothing"),
])
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_normalize_is_idempotent_on_real_shapes():
    for raw in (r"\left( 3, \frac{\pi}{2} \right)", r"11,\! 111,\! 111,\! 100", r"x \in [-2,7]",
                r"\frac{270}7\text{ degrees}", "1\u2009000", r"\{1\pm\sqrt{5},-2\}"):
        once = normalize_answer(raw)
        assert normalize_answer(once) == once


def test_read_group():
    assert read_group(r"\frac{a{b}}{c}", 5) == ("a{b}", 11)
    assert read_group(r"\frac 34", 5) == ("3", 7)
    assert read_group(r"\frac{1", 5) is None


def test_non_text_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        normalize_answer(5)  # type: ignore[arg-type]

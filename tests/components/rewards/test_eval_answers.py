"""Self-consistency on real reference answers: every MATH500 / GSM8K / AIME answer, boxed in a
completion, is graded right against itself and wrong against a perturbed twin."""

from __future__ import annotations

import pytest

from components.rewards.equivalence import exact_value
from components.rewards.grading import is_correct, normalize_answer, reward
from tests.components.rewards.real_answers import EVAL_FILES, completion_with, perturb, read_answers

CASES = [pytest.param(gold, id=f"{name.split('.')[0]}:{rid}")
         for name in EVAL_FILES for rid, gold in read_answers(name)]
NUMERIC_CASES = [c for c in CASES if exact_value(normalize_answer(c.values[0])) is not None]


def test_the_bundled_eval_files_are_read():
    # MATH500, GSM8K and AIME24 are bundled in data/eval; without them the table below is empty.
    assert {len(read_answers(n)) for n in ("math500.jsonl", "gsm8k_test.jsonl", "aime24.jsonl")} == {500, 1319, 30}


@pytest.mark.parametrize("gold", CASES)
def test_reference_right_against_itself_and_wrong_against_a_twin(gold):
    assert is_correct(completion_with(gold), gold)
    assert reward(completion_with(gold), gold) == 1.0
    wrong = perturb(gold)
    assert not is_correct(completion_with(wrong), gold), wrong
    assert reward(completion_with(wrong), gold) == 0.1


@pytest.mark.parametrize("gold", NUMERIC_CASES)
def test_numeric_reference_written_plainly_is_right(gold):
    # `025` -> `25`, `2,125` -> `2125`, `\frac{14}{3}` -> `14/3`, `\$18.90` -> `189/10`
    value = exact_value(normalize_answer(gold))
    plain = str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    assert is_correct(completion_with(plain), gold)

"""Self-consistency on real reference answers: every MATH500 / GSM8K / AIME answer, boxed in a
completion, is graded right against itself and wrong against a perturbed twin.

One test per eval file; each checks every row and lists the ids of the rows that fail.
"""

from __future__ import annotations

import pytest

from components.data.answer_pairs import EVAL_NAMES, completion_with, perturb, read_answers
from components.rewards.equivalence import exact_value
from components.rewards.grading import is_correct, normalize_answer, reward


def test_the_bundled_eval_files_are_read():
    # MATH500, GSM8K and AIME24 are bundled in data/eval; without them the checks below see nothing.
    assert [len(read_answers(n)) for n in ("math500", "gsm8k", "aime24")] == [500, 1319, 30]


def self_consistency_failures(gold: str) -> list[str]:
    """What goes wrong for one reference answer (empty when the grader is consistent on it)."""
    wrong = perturb(gold)
    checks = {"not right against itself": is_correct(completion_with(gold), gold),
              "reward of itself != 1.0": reward(completion_with(gold), gold) == 1.0,
              f"right against its twin {wrong!r}": not is_correct(completion_with(wrong), gold),
              "reward of the twin != 0.1": reward(completion_with(wrong), gold) == 0.1}
    value = exact_value(normalize_answer(gold))
    if value is not None:
        # `025` -> `25`, `2,125` -> `2125`, `\frac{14}{3}` -> `14/3`, `\$18.90` -> `189/10`
        plain = str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
        checks[f"not right written plainly as {plain!r}"] = is_correct(completion_with(plain), gold)
    return [what for what, ok in checks.items() if not ok]


@pytest.mark.parametrize("name", EVAL_NAMES)
def test_every_reference_is_right_against_itself_and_wrong_against_a_twin(name):
    answers = read_answers(name)
    if not answers:
        pytest.skip(f"{name}: eval file not present")
    failing = {rid: (gold, bad) for rid, gold in answers if (bad := self_consistency_failures(gold))}
    assert failing == {}, f"{len(failing)} of {len(answers)} {name} rows fail: {failing}"


def test_the_check_can_fail():
    assert self_consistency_failures("5") == []
    assert self_consistency_failures("") != []          # an empty reference matches nothing

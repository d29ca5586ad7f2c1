"""The synthetic task: deterministic, checkable, split without overlap, noisy on request."""

from __future__ import annotations

import re

from components.data.synthetic import TaskConfig, generate, is_heldout


def _check_trace(solution: str) -> tuple[bool, str]:
    """Re-evaluate every step of a trace; return (all steps right, boxed answer)."""
    body = solution.removeprefix("<think>").split("</think>")[0]
    steps = [s for s in body.split(".\n\n") if s]
    ok = True
    for s in steps:
        lhs, rhs = s.split("=")
        a, op, b = re.fullmatch(r"(\d+)([-+*/])(\d+)", lhs).groups()
        ok &= int(eval(f"{a}{op}{b}".replace("/", "//"))) == int(rhs)
    return ok, re.search(r"\\boxed\{(-?\d+)\}$", solution).group(1)


def test_deterministic_given_seed():
    assert [p.as_row() for p in generate(50, 3)] == [p.as_row() for p in generate(50, 3)]
    assert [p.problem for p in generate(50, 3)] != [p.problem for p in generate(50, 4)]


def test_clean_traces_are_correct_and_format_matches():
    for p in generate(300, 0):
        assert p.solution.startswith("<think>") and "</think> \\boxed{" in p.solution
        ok, boxed = _check_trace(p.solution)
        assert ok and boxed == p.answer and not p.meta["noisy"], p


def test_noisy_traces_have_one_wrong_step_that_propagates():
    rows = list(generate(2000, 1, noise_rate=0.3))
    noisy = [p for p in rows if p.meta["noisy"]]
    assert 0.25 < len(noisy) / len(rows) < 0.35
    for p in noisy:
        ok, boxed = _check_trace(p.solution)
        assert not ok and boxed != p.answer


def test_intermediate_values_capped():
    cfg = TaskConfig(max_value=99)
    for p in generate(500, 2, cfg, noise_rate=0.3):
        assert all(0 <= int(v) <= 99 for v in re.findall(r"=(-?\d+)", p.solution))


def test_splits_never_overlap():
    train = {p.problem for p in generate(5000, 0)}
    held = {p.problem for p in generate(300, 0, split="heldout")}
    assert not train & held
    assert all(is_heldout(p) for p in held) and not any(is_heldout(p) for p in train)


def test_difficulty_knob():
    easy = list(generate(200, 0, TaskConfig(min_ops=1, max_ops=1, linear_share=0.0)))
    hard = list(generate(200, 0, TaskConfig(min_ops=5, max_ops=5, linear_share=0.0)))
    assert all(p.meta["n_ops"] == 1 for p in easy) and all(p.meta["n_ops"] == 5 for p in hard)


def test_sum_task_and_its_splits():
    import pytest

    from components.config import ConfigError
    from components.data.synthetic import TaskConfig, generate, is_heldout

    task = TaskConfig(max_operand=9, heldout_share=0.3, kind="sum")
    train = list(generate(60, 0, task, "train"))
    held = list(generate(30, 1, task, "heldout"))
    assert not {p.problem for p in train} & {p.problem for p in held}
    p = train[0]
    a, b = (int(x) for x in p.problem.removeprefix("What is ").removesuffix("?").split(" + "))
    assert p.answer == str(a + b) and p.solution.endswith(f"\\boxed{{{a + b}}}") and not is_heldout(p.problem, 0.3)
    with pytest.raises(ConfigError, match="task.kind"):
        TaskConfig(kind="product")

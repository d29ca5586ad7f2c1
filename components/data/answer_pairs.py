"""Real reference answers (MATH500, GSM8K, AIME24, AIME25) and a surely wrong twin of each: the
grader's self-consistency probes, used by its tests and by `benchmarks/grading_throughput.py`.

The files are the evaluation sets' own (`components.data.eval_sets`); a set whose file is absent
(AIME25 without `../shared`) has no answers.
"""

from __future__ import annotations

import re

from components.data.eval_sets import real_set, real_set_path

EVAL_NAMES = ("math500", "gsm8k", "aime24", "aime25")


def read_answers(name: str) -> list[tuple[str, str]]:
    """(row id, reference answer as text) of every row of eval set `name`; [] when its file is absent."""
    path = real_set_path(name)
    if not path.is_file():
        return []
    s = real_set(name, path, check_answers=False)
    return [(p.id, p.answer) for p in s.problems]


def perturb(gold: str) -> str:
    """A surely different answer: the next choice letter, else the first digit plus one (9 -> 10),
    else a word with a letter added, else `gold + 1`.

    >>> perturb("\\\\text{(B)}"), perturb("025"), perturb("\\\\frac{9}{19}"), perturb("\\\\text{east}"), perturb("\\\\pi")
    ('\\\\text{(C)}', '125', '\\\\frac{10}{19}', '\\\\text{eastz}', '\\\\pi+1')
    """
    m = re.fullmatch(r"\\text\{\(([A-E])\)\}", gold)
    if m:
        return "\\text{(%s)}" % chr(ord(m.group(1)) + 1)
    m = re.search(r"\d", gold)
    if m:
        return gold[:m.start()] + str(int(m.group()) + 1) + gold[m.end():]
    m = re.fullmatch(r"\\text\{(\w+)\}", gold)
    if m:
        return "\\text{%sz}" % m.group(1)
    return gold + "+1"


def completion_with(answer: str) -> str:
    """A well-formed completion whose final boxed answer is `answer`."""
    return ("<think>First, set up the equation.\n\nThen solve it.\n\n</think>"
            f" The answer is $\\boxed{{{answer}}}$.")

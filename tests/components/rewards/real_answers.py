"""Real reference answers (MATH500, GSM8K, AIME24, AIME25) and a wrong twin of each, shared by
the self-consistency tests and `benchmarks/grading_throughput.py`.

Files are read from the repository's bundled `data/eval/` first, then from `../shared/data/eval/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
EVAL_DIRS = (REPO / "data" / "eval", REPO.parent / "shared" / "data" / "eval")
EVAL_FILES = ("math500.jsonl", "gsm8k_test.jsonl", "aime24.jsonl", "aime25.jsonl")


def eval_path(name: str) -> Path | None:
    """First existing copy of eval file `name`, else None."""
    return next((d / name for d in EVAL_DIRS if (d / name).is_file()), None)


def read_answers(name: str) -> list[tuple[str, str]]:
    """(row id, reference answer as text) of every row of eval file `name`; [] when absent."""
    path = eval_path(name)
    if path is None:
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(str(r.get("id", i)), str(r["answer"])) for i, r in enumerate(rows)]


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

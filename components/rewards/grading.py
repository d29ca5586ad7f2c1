"""Answer grading: the outcome reward of METHOD.md section 3 as plain functions.

`final_answer` takes the text after the last `</think>` and returns its LAST `\\boxed{...}`
(or `\\fbox{...}`); `answers_equal` normalises both sides and compares them with `math-verify`;
`reward` maps a completion to 1.0 (correct), `format_reward` (well-formed but wrong; the
reference uses 0.1) or 0.0 (no `</think>`, no box).

>>> reward("<think>7+5=12.\\n\\n</think> \\\\boxed{12}", "12")
1.0
>>> reward("<think>7+5=13.\\n\\n</think> \\\\boxed{13}", "12")
0.1
>>> reward("7+5=12 \\\\boxed{12}", "12")
0.0
"""

from __future__ import annotations

THINK_CLOSE = "</think>"
_BOX_COMMANDS = ("\\boxed", "\\fbox")


def extract_boxed(text: str) -> str | None:
    """Content of the LAST `\\boxed{...}` / `\\fbox{...}` in `text`, braces matched; else None.

    >>> extract_boxed("so \\\\boxed{\\\\frac{1}{2}} or \\\\boxed{3}")
    '3'
    >>> extract_boxed("\\\\boxed{\\\\frac{14}{3}}")
    '\\\\frac{14}{3}'
    >>> extract_boxed("\\\\boxed{1") is None
    True
    """
    best = None
    for command in _BOX_COMMANDS:
        start = text.rfind(command + "{")
        if start > (best[0] if best else -1):
            best = (start, command)
    if best is None or best[0] < 0:
        return None
    i = best[0] + len(best[1]) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
    return None


def final_answer(completion: str) -> str | None:
    """The boxed answer after the last `</think>`; None when either is missing."""
    if THINK_CLOSE not in completion:
        return None
    return extract_boxed(completion.rsplit(THINK_CLOSE, 1)[1])


def normalize_answer(answer: str) -> str:
    """Light textual normalisation before math-verify (spaces, `$`, thousands commas, `\\text{}`)."""
    import re

    s = answer.strip().strip("$").strip()
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"(?<=\d),(?=\d{3}(\D|$))", "", s)
    s = re.sub(r"\s+", " ", s)
    return s


def answers_equal(pred: str, gold: str) -> bool:
    """True iff `pred` and `gold` denote the same mathematical answer."""
    from math_verify import parse, verify

    p, g = normalize_answer(pred), normalize_answer(gold)
    if p == g:
        return True
    try:
        return bool(verify(parse(f"${g}$"), parse(f"${p}$")))
    except Exception:  # math-verify raises on exotic input; a non-parse is not a match
        return False


def is_correct(completion: str, reference: str) -> bool:
    """True iff the completion's final boxed answer equals `reference`."""
    pred = final_answer(completion)
    return pred is not None and answers_equal(pred, reference)


def reward(completion: str, reference: str, format_reward: float = 0.1) -> float:
    """Outcome reward: 1.0 correct, `format_reward` well-formed but wrong, 0.0 malformed."""
    pred = final_answer(completion)
    if pred is None:
        return 0.0
    return 1.0 if answers_equal(pred, reference) else format_reward


def is_verifiable(answer: str) -> bool:
    """True iff `answer` parses as something math-verify can compare."""
    from math_verify import parse

    try:
        return bool(parse(f"${normalize_answer(answer)}$"))
    except Exception:
        return False

"""Answer grading: the outcome reward of docs/method.md section 3 as plain functions.

`final_answer` takes the text after the last `</think>` and returns its LAST `\\boxed{...}`
(or `\\fbox{...}`); `answers_equal` normalises both sides (`normalize_answer`, see
`components.rewards.normalization`) and decides equality with cheap exact tests first and
`math-verify` last, stricter than its defaults where they would grade a wrong answer right
(see `components.rewards.equivalence`); `reward` maps a completion to 1.0 (correct),
`format_reward` (well-formed but wrong; the reference uses 0.1) or 0.0 (no `</think>`, no box,
or an empty box). None of these raises on any text: a malformed completion is a defined result.

Choice letters: when the reference is a choice (`B`, `(B)`, `\\text{(B)}`, `(B) 42`) the
prediction must name the same letter (`B`, `(B)`, `B)`, `(B) 42`); when both carry a text it
must agree too; a prediction naming a second letter (`(B) or (C)`) is wrong.

>>> reward("<think>7+5=12.\\n\\n</think> \\\\boxed{12}", "12")
1.0
>>> reward("<think>7+5=13.\\n\\n</think> \\\\boxed{13}", "12")
0.1
>>> reward("7+5=12 \\\\boxed{12}", "12")
0.0
>>> answers_equal("\\\\left( 3, \\\\frac{\\\\pi}{2} \\\\right)", "(3,\\\\frac{\\\\pi}{2})"), answers_equal("(2,1)", "(1,2)")
(True, False)
>>> answers_equal("1\\u2009000", "1000"), answers_equal("1,2", "12"), answers_equal("B) 42", "\\\\text{(B)}")
(True, False, True)
"""

from __future__ import annotations

import re

from components.rewards.equivalence import equivalent, exact_value, is_parseable, is_word, leaves, shape_of
from components.rewards.normalization import normalize_answer

__all__ = ["THINK_CLOSE", "answers_equal", "extract_boxed", "final_answer", "is_correct",
           "is_verifiable", "normalize_answer", "reward"]

THINK_CLOSE = "</think>"
MAX_ANSWER_CHARS = 1000   # longer final answers are compared as text only (see answers_equal)
_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*")
_CHOICE_FIRST = re.compile(r"\(([A-J])\)[=:.]?(.*)|([A-J])(?:[).:=](.*))?", re.S)
_CHOICE_LAST = re.compile(r"(.+?)(?:\\Rightarrow|\\Longrightarrow|\\implies|=)?\(([A-J])\)"
                          r"|(.+?)(?:\\Rightarrow|\\Longrightarrow|\\implies) ?([A-J])", re.S)
_LETTERS_NAMED = re.compile(r"\(([A-J])\)|^[,;]?([A-J])\)?$")


def extract_boxed(text: str) -> str | None:
    """Content of the LAST `\\boxed{...}` / `\\fbox{...}` in `text`, braces matched; else None.

    An unclosed last box (a truncated completion) is None even if an earlier box is complete:
    the final answer is the last one. `\\boxed 5` (no braces) gives its one token.

    >>> extract_boxed("so \\\\boxed{\\\\frac{1}{2}} or \\\\boxed{3}")
    '3'
    >>> extract_boxed("\\\\boxed{\\\\frac{14}{3}}")
    '\\\\frac{14}{3}'
    >>> extract_boxed("\\\\boxed{1") is None
    True
    """
    matches = list(_BOX.finditer(text))
    if not matches:
        return None
    i = matches[-1].end()
    if i >= len(text):
        return None
    if text[i] != "{":
        token = re.match(r"[^\s$]+", text[i:])
        return token.group(0).rstrip(".") if token else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j].strip()
    return None


def final_answer(completion: str, think: bool = True) -> str | None:
    """The boxed answer after the last `</think>`; None when either is missing or the box is empty.

    `think=False` is for a model without a thinking span (no `<think>` in its vocabulary, e.g.
    SmolLM2): the last box of the whole completion.

    >>> final_answer("<think>a</think> so \\\\boxed{ 7 }."), final_answer("\\\\boxed{7}")
    ('7', None)
    >>> final_answer("3 + 4 = 7. \\\\boxed{7}", think=False)
    '7'
    """
    if not isinstance(completion, str):
        raise TypeError(f"final_answer: expected a str completion, got {type(completion).__name__}")
    if not think:
        return extract_boxed(completion) or None
    if THINK_CLOSE not in completion:
        return None
    answer = extract_boxed(completion.rsplit(THINK_CLOSE, 1)[1])
    return answer or None


def _choice(s: str) -> tuple[str, str] | None:
    """(letter, text) for a normalised choice answer: `B`, `(B)`, `B)42`, `(B)42`, `(B)=42`, and
    with the label last, as AMC solutions write it: `42(B)`, `42\\Rightarrow(B)`, `5\\implies B`.
    """
    m = _CHOICE_FIRST.fullmatch(s)
    if m:
        return (m.group(1), m.group(2).strip()) if m.group(1) else (m.group(3), (m.group(4) or "").strip())
    m = _CHOICE_LAST.fullmatch(s)
    if m:
        return (m.group(2), m.group(1).strip()) if m.group(2) else (m.group(4), m.group(3).strip())
    return None


def _names_other_letter(text: str, letter: str) -> bool:
    """True iff a choice's text names a second choice (`(B) or (C)`, `(B)(C)`, `B) C`)."""
    return any(x not in ("", letter) for m in _LETTERS_NAMED.finditer(text) for x in m.groups(""))


def _choices_equal(pred: str, gold: str) -> bool | None:
    """Decision when `gold` is a choice answer (None when it is not)."""
    g = _choice(gold)
    if g is None:
        return None
    p = _choice(pred)
    if p is None:  # the prediction gave only the choice's text
        return bool(g[1]) and equivalent(pred, g[1])
    if p[0] != g[0] or _names_other_letter(p[1], p[0]):
        return False
    return not (p[1] and g[1]) or equivalent(p[1], g[1])


def answers_equal(pred: str, gold: str) -> bool:
    """True iff `pred` and `gold` denote the same mathematical answer (strict; see module doc).

    Asymmetric only where math-verify is (`gold` is the reference). Empty answers never match.
    An answer over `MAX_ANSWER_CHARS` matches only the identical text, before any normalising,
    so grading time is bounded whatever a completion writes (sympy's timeout works only in the
    main thread).
    """
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return pred.strip() == gold.strip() != ""
    p, g = normalize_answer(pred), normalize_answer(gold)
    if not p or not g:
        return False
    if p == g:
        return True
    choice = _choices_equal(p, g)
    if choice is not None:
        return choice
    labelled = _choice(p)  # `(B) 42` or `42 (B)` against a bare reference `42`
    if labelled and labelled[1] and not _names_other_letter(labelled[1], labelled[0]) \
            and equivalent(labelled[1], g):
        return True
    return equivalent(p, g)


def is_correct(completion: str, reference: str, think: bool = True) -> bool:
    """True iff the completion's final boxed answer equals `reference`."""
    pred = final_answer(completion, think)
    return pred is not None and answers_equal(pred, reference)


def reward(completion: str, reference: str, format_reward: float = 0.1, think: bool = True) -> float:
    """Outcome reward: 1.0 correct, `format_reward` well-formed but wrong, 0.0 malformed."""
    pred = final_answer(completion, think)
    if pred is None:
        return 0.0
    return 1.0 if answers_equal(pred, reference) else format_reward


def is_verifiable(answer: str) -> bool:
    """True iff the grader can compare `answer`: non-empty after normalisation, and every item
    (of a tuple, set, list, union or matrix) a number, a word, a choice or LaTeX math-verify parses.

    >>> is_verifiable("\\\\frac{14}{3}"), is_verifiable("(1,\\\\sqrt{2})"), is_verifiable("  $ $ "), is_verifiable("\\\\frac{1}{")
    (True, True, False, False)
    """
    if not isinstance(answer, str) or len(answer) > MAX_ANSWER_CHARS:
        return False
    s = normalize_answer(answer)
    if not s:
        return False
    if _choice(s):
        return True
    return all(exact_value(x) is not None or is_word(x) or is_parseable(x) for x in leaves(shape_of(s)))

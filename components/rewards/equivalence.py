"""Do two NORMALISED answers denote the same mathematical object? (docs/method.md section 3, reward)

`equivalent(pred, gold)` takes two outputs of `normalize_answer` and decides, cheapest test first:

1. Structure, read from the text (math-verify's parse is ambiguous here: it reads `(1,2)` as an
   open interval and then equates it with the set `{1,2}`):
   - `(a,b)`, `[a,b)`, ... are ORDERED and keep their bracket kinds: `(1,2)` != `(2,1)`,
     `(1,2)` != `[1,2]`, `(1,2)` != `\\{1,2\\}`; a column/row vector `\\begin{pmatrix}` compares as
     an ordered tuple, a larger matrix entry by entry;
   - `\\{a,b\\}` and a bare list `a,b` ("enter all solutions") are UNORDERED multisets;
     `a \\pm b` is the list `a+b, a-b`; `A \\cup B` is an unordered union of its pieces;
   - a bare list against a parenthesised tuple is compared in order (`1,2` == `(1,2)`, but never
     against `[1,2]` or `\\{1,2\\}`); a one-element set or list equals its item.
2. Scalars: equal strings; words (two letters or more, e.g. `Evelyn`, `even`) case-insensitively,
   never as products of symbols (`east` != `tase`); numerals in a base (`204_5`) by digits and base.
3. Exact rationals, without sympy: integers (leading zeros allowed: AIME `025` == `25`), finite
   decimals, e-notation (`1e3`), `\\times 10^{n}`, `\\frac{a}{b}`, mixed numbers (`1\\frac{4}{5}`),
   repeating decimals (`0.\\overline{3}` == 1/3). Two rationals are equal only if EXACTLY equal:
   `0.3333334`, `0.333333` and even `0.3333333333` differ from 1/3 (math-verify's default rounds to 6
   places and would accept the first two).
4. sympy via math-verify's parser, decimals first rewritten as exact fractions. Two numbers: exact
   if both are rational; otherwise (an irrational side, e.g. `\\sqrt{2}`, `\\pi`) relative tolerance
   `REL_TOL` = 1e-9 at 30 digits, so `1.41421356237` == `\\sqrt{2}` but `1.414214` != `\\sqrt{2}`
   and `3.14159` != `\\pi`. A number never equals an expression with free variables.
5. Otherwise math-verify's `verify(gold, pred)` (strict variables: `2k` != `2n`, relations,
   intervals, unions, symbolic identity), with no floats left for its 6-place rounding.

Steps 4-5 run under math-verify's signal-based timeout (`TIMEOUT_S`) only in the main thread;
in other threads signals are unavailable, so they run without one (math-verify's own timeouts are
always off, `parsing_timeout=None`). Answers that could make sympy compute for long (power towers,
exponents >= 1000, answers over `MAX_SYMPY_CHARS`) or that it would misread (`3 5`, digits apart,
which math-verify sums to 8) never reach sympy and are compared as strings.

>>> equivalent("(1,2)", "\\\\{1,2\\\\}"), equivalent("\\\\{2,1\\\\}", "\\\\{1,2\\\\}"), equivalent("0.3333334", "\\\\frac{1}{3}")
(False, True, False)
>>> equivalent("025", "25"), equivalent("0.\\\\overline{3}", "\\\\frac{1}{3}"), equivalent("1e3", "1000")
(True, True, True)
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from fractions import Fraction

REL_TOL = 1e-9
TIMEOUT_S = 5
MAX_SYMPY_CHARS = 400
MAX_ITEMS = 64

logger = logging.getLogger(__name__)


def _drop_timeout_notice(record: logging.LogRecord) -> bool:
    # math-verify warns once that its own timeouts are off; `_guarded` provides the timeout.
    return not str(record.msg).startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_drop_timeout_notice)

_NUM = r"(?:\d+\.?\d*|\.\d+)"
_DECIMAL = re.compile(rf"[-+]?{_NUM}(?:[eE][-+]?\d{{1,3}})?")
_TIMES_TEN = re.compile(rf"([-+]?{_NUM})(?:\\times|\\cdot|\*)10\^(?:\{{([-+]?\d{{1,3}})\}}|(\d))")
_FRACTION = re.compile(rf"([-+]?)\\frac\{{([-+]?{_NUM})\}}\{{([-+]?{_NUM})\}}")
_MIXED = re.compile(r"([-+]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}")
_REPEATING = re.compile(r"([-+]?)(\d*)\.(\d*)\\(?:overline|dot)(?:\{(\d+)\}|(\d))")
_BASED = re.compile(r"((?=[0-9A-F]*\d)[0-9A-F]+)_\{?(\d{1,2})\}?")
_DIGITS = re.compile(r"(?=[0-9A-F]*\d)[0-9A-F]+")
_WORD = re.compile(r"[A-Za-z]{2,}(?: [A-Za-z]+)*|[A-Za-z]+(?: [A-Za-z]+)+")
_MATRIX = re.compile(r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}", re.S)
_NOT_FOR_SYMPY = re.compile(r"\d \d|\^\{[^{}]*\^|\^\{?-?\d{4,}|[eE][-+]?\d{4,}|\d{3,}!|!!")
_DECIMAL_IN_TEXT = re.compile(r"(?<![\d.\\])(\d*)\.(\d+)(?![\d.])")
_OPEN, _CLOSE = "([{", ")]}"


# ---------------------------------------------------------------- structure (step 1)

def split_top(s: str, sep: str) -> list[str]:
    """Split `s` at occurrences of `sep` outside any (), [], {} (so `\\{`, `\\}` too)."""
    parts, depth, start, i = [], 0, 0, 0
    command = sep[-1].isalpha()  # `\cup` must not split `\cupola`
    while i < len(s):
        c = s[i]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0 and s.startswith(sep, i) and not (command and s[i + len(sep):i + len(sep) + 1].isalpha()):
            parts.append(s[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(s[start:])
    return parts


def _spans(s: str, left: int, right: int) -> bool:
    """True iff the bracket at s[left] closes exactly at s[right] (kinds may differ: `[a,b)`)."""
    depth = 0
    for i in range(left, right + 1):
        depth += 1 if s[i] in _OPEN else -1 if s[i] in _CLOSE else 0
        if depth == 0 and i < right:
            return False
    return depth == 0


def _expand_pm(item: str) -> list[str]:
    parts = split_top(item, r"\pm")
    if len(parts) == 1:
        parts = split_top(item, r"\mp")
    if len(parts) != 2:
        return [item]
    return [f"{parts[0]}+{parts[1]}", f"{parts[0]}-{parts[1]}"]


def shape_of(s: str) -> tuple[str, str, tuple]:
    """(kind, brackets, items): kind is scalar | ordered | unordered | union | matrix."""
    while len(s) >= 2 and s[0] == "(" and s[-1] == ")" and _spans(s, 0, len(s) - 1) \
            and len(split_top(s[1:-1], ",")) == 1:
        s = s[1:-1]   # redundant parentheses, peeled without recursion
    pieces = split_top(s, r"\cup")
    if len(pieces) > 1:
        return "union", "", tuple(shape_of(p) for p in pieces)
    m = _MATRIX.fullmatch(s)
    if m:
        rows = tuple(tuple(c for c in split_top(r, "&")) for r in split_top(m.group(2), "\\\\") if r)
        if len(rows) == 1 or all(len(r) == 1 for r in rows):
            return "ordered", "()", tuple(c for r in rows for c in r)
        return "matrix", "", rows
    if s.startswith(r"\{") and s.endswith(r"\}") and _spans(s, 1, len(s) - 1):
        items = [x for part in split_top(s[2:-2], ",") for x in _expand_pm(part)]
        return "unordered", "{}", tuple(items)
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _spans(s, 0, len(s) - 1):
        items = split_top(s[1:-1], ",")
        if len(items) > 1:
            return "ordered", s[0] + s[-1], tuple(items)
        if s[0] == "(":
            return shape_of(s[1:-1])
    items = split_top(s, ",")
    if len(items) > 1:
        return "unordered", "", tuple(x for part in items for x in _expand_pm(part))
    expanded = _expand_pm(s)
    if len(expanded) > 1:
        return "unordered", "", tuple(expanded)
    return "scalar", "", (s,)


def _match_unordered(pred: tuple, gold: tuple, same) -> bool:
    if len(pred) != len(gold):
        return False
    left = list(pred)
    for g in gold:
        for k, p in enumerate(left):
            if same(p, g):
                del left[k]
                break
        else:
            return False
    return True


def shapes_equal(p: tuple, g: tuple) -> bool:
    (pk, pb, pi), (gk, gb, gi) = p, g
    if len(pi) > MAX_ITEMS or len(gi) > MAX_ITEMS:
        return pi == gi
    if pk == gk == "scalar":
        return scalars_equal(pi[0], gi[0])
    if pk == gk == "union":
        return _match_unordered(pi, gi, shapes_equal)
    if pk == gk == "matrix":
        return len(pi) == len(gi) and all(
            len(a) == len(b) and all(map(_item_equal, a, b)) for a, b in zip(pi, gi))
    if pk == gk == "unordered":
        return _match_unordered(pi, gi, _item_equal)
    if {pk, gk} == {"scalar", "unordered"}:
        items = pi if pk == "unordered" else gi
        if len(items) == 1:
            return _item_equal(items[0], (gi if pk == "unordered" else pi)[0])
        return False
    tuple_vs_list = {(pk, pb), (gk, gb)} == {("ordered", "()"), ("unordered", "")}
    if pk == gk == "ordered" or tuple_vs_list:
        if pk == gk and pb != gb:
            return False
        return len(pi) == len(gi) and all(map(_item_equal, pi, gi))
    if "scalar" in (pk, gk):  # e.g. `-2\le x\le 7` vs `[-2,7]`: math-verify reads relations as sets
        return _sympy_equal(_rebuild(p), _rebuild(g))
    return False


def _rebuild(shape: tuple) -> str:
    kind, brackets, items = shape
    if kind == "scalar":
        return items[0]
    if kind == "union":
        return r"\cup".join(_rebuild(x) for x in items)
    if kind == "matrix":
        return r"\begin{pmatrix}" + r"\\".join("&".join(r) for r in items) + r"\end{pmatrix}"
    body = ",".join(items)
    return {"{}": r"\{" + body + r"\}", "": body}.get(brackets, brackets[:1] + body + brackets[1:])


def leaves(shape: tuple) -> list[str]:
    """Every scalar string inside a shape (items of tuples, sets, unions, matrix cells)."""
    kind, _, items = shape
    if kind == "scalar":
        return [items[0]]
    if kind == "union":
        return [x for piece in items for x in leaves(piece)]
    cells = [c for row in items for c in row] if kind == "matrix" else list(items)
    return [x for c in cells for x in leaves(shape_of(c))]


def _item_equal(p: str, g: str) -> bool:
    return p == g or shapes_equal(shape_of(p), shape_of(g))


# ---------------------------------------------------------------- scalars (steps 2-3)

def exact_value(s: str) -> Fraction | None:
    """The exact rational a plain numeric answer denotes, else None (no sympy, microseconds).

    >>> exact_value("025"), exact_value("-1\\\\frac{1}{2}"), exact_value("0.1\\\\overline{6}"), exact_value("x")
    (Fraction(25, 1), Fraction(-3, 2), Fraction(1, 6), None)
    """
    try:
        if _DECIMAL.fullmatch(s):
            return Fraction(s)
        m = _TIMES_TEN.fullmatch(s)
        if m:
            return Fraction(m.group(1)) * Fraction(10) ** int(m.group(2) or m.group(3))
        m = _FRACTION.fullmatch(s)
        if m:
            value = Fraction(m.group(2)) / Fraction(m.group(3))
            return -value if m.group(1) == "-" else value
        m = _MIXED.fullmatch(s)
        if m:
            value = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            return -value if m.group(1) == "-" else value
        m = _REPEATING.fullmatch(s)
        if m:
            sign, whole, head, rep = m.group(1), m.group(2) or "0", m.group(3), m.group(4) or m.group(5)
            value = Fraction(int(whole + head), 10 ** len(head)) + Fraction(
                int(rep), 10 ** len(head) * (10 ** len(rep) - 1))
            return -value if sign == "-" else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


def is_word(s: str) -> bool:
    """A textual answer (`Evelyn`, `even`, `no solution`): two letters or more, letters and spaces."""
    return bool(_WORD.fullmatch(s))


def scalars_equal(p: str, g: str) -> bool:
    if p == g:
        return True
    if is_word(p) or is_word(g):
        return p.replace(" ", "").lower() == g.replace(" ", "").lower()
    gb, pb = _BASED.fullmatch(g), _BASED.fullmatch(p)
    if gb or pb:
        if gb and pb:
            return gb.group(1) == pb.group(1) and gb.group(2) == pb.group(2)
        based, plain = (gb, p) if gb else (pb, g)
        return bool(_DIGITS.fullmatch(plain)) and based.group(1) == plain
    pv, gv = exact_value(p), exact_value(g)
    if pv is not None and gv is not None:
        return pv == gv
    return _sympy_equal(p, g)


# ---------------------------------------------------------------- sympy (steps 4-5)

def _exact_decimals(s: str) -> str:
    """`0.25x` -> `\\frac{25}{100}x`, so no float reaches math-verify's 6-place rounding."""
    return _DECIMAL_IN_TEXT.sub(lambda m: r"\frac{%s}{1%s}" % (int(m.group(1) + m.group(2)), "0" * len(m.group(2))), s)


@functools.lru_cache(maxsize=8192)
def _parsed(s: str):
    """First sympy object math-verify's LaTeX parser makes of `s`, or None."""
    from math_verify import LatexExtractionConfig, parse

    found = parse(f"${_exact_decimals(s)}$", extraction_config=[LatexExtractionConfig()],
                  fallback_mode="no_fallback", parsing_timeout=None)
    return found[0] if found else None


def _numbers_equal(a, b) -> bool | None:
    """Exact for two rationals, REL_TOL otherwise; None when either side is not a plain number."""
    import sympy

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return None
    if a.free_symbols or b.free_symbols:
        return None if (a.free_symbols and b.free_symbols) else False
    a, b = a.doit(), b.doit()
    if a == b:
        return True
    if a.is_Rational and b.is_Rational:
        return False
    if not (a.is_finite and b.is_finite):
        return False
    scale = sympy.Max(sympy.Abs(sympy.N(a, 30)), sympy.Abs(sympy.N(b, 30)))
    return bool(sympy.Abs(sympy.N(a - b, 30)) <= REL_TOL * scale)


def _sympy_compare(p: str, g: str) -> bool:
    from math_verify import verify

    gold, pred = _parsed(g), _parsed(p)
    if gold is None or pred is None:
        return False
    numeric = _numbers_equal(pred, gold)
    if numeric is not None:
        return numeric
    return bool(verify(gold, pred, float_rounding=12, numeric_precision=30, strict=True,
                       allow_set_relation_comp=True, timeout_seconds=None))


def _guarded(fn, *args) -> bool:
    """`fn(*args)` under the main-thread timeout; a timeout or a sympy error is False."""
    from math_verify.errors import TimeoutException
    from math_verify.utils import timeout

    if any(len(s) > MAX_SYMPY_CHARS or _NOT_FOR_SYMPY.search(s) for s in args):
        return False  # equal strings were accepted before; anything else is not worth the risk
    in_main = threading.current_thread() is threading.main_thread()
    call = timeout(timeout_seconds=TIMEOUT_S)(fn) if in_main else fn
    try:
        return bool(call(*args))
    except TimeoutException:
        logger.warning("math-verify timed out after %ss; graded as not equal", TIMEOUT_S)
        return False
    except Exception:  # sympy raises on exotic input; a comparison that fails is not a match
        logger.debug("math-verify failed", exc_info=True)
        return False


def _sympy_equal(p: str, g: str) -> bool:
    return _guarded(_sympy_compare, p, g)


def is_parseable(s: str) -> bool:
    """True iff math-verify's LaTeX parser makes a sympy object of the normalised `s`."""
    return _guarded(lambda x: _parsed(x) is not None, s)


def equivalent(pred: str, gold: str) -> bool:
    """True iff the normalised `pred` and `gold` denote the same object (rules in the module doc)."""
    if pred == gold:
        return True
    if not pred or not gold:
        return False
    return shapes_equal(shape_of(pred), shape_of(gold))

"""Textual normalisation of a final answer before comparison (docs/method.md section 3, reward).

`normalize_answer` turns what a model (or a dataset) writes inside `\\boxed{}` into one canonical
LaTeX-ish string that `components.rewards.equivalence` compares and math-verify can still parse:

- unicode math -> LaTeX: `½` -> `\\frac{1}{2}`, `√2` -> `\\sqrt{2}`, `π`, `∞`, `×`, `−`, `≤`, `°`,
  superscript digits `x²` -> `x^{2}`; every unicode space (thin, narrow no-break, no-break) is a space;
- wrappers and layout: `$`, `\\(...\\)`, `\\[...\\]`, `\\boxed{}`, `\\displaystyle`, `\\left`/`\\right`,
  `\\dfrac`/`\\tfrac` -> `\\frac`, `\\frac34` -> `\\frac{3}{4}`, `\\sqrt2` -> `\\sqrt{2}`, simple `a/b` ->
  `\\frac{a}{b}`;
- thousands separators: `1,000`, `10,\\!080`, `1{,}000`, `1\\,000`, `1 000` (also thin space) -> `1000`,
  only for digit groups of exactly three after a 1-3 digit head. A comma followed by a space, or
  by fewer/more than three digits, is a list separator (`1,2` stays a pair and never becomes 12),
  and so is a plain comma inside `()`, `[]`, `{}` or `\\{\\}` (`(1,234)` is a pair, `[0,100]` an
  interval); the explicit groupings `,\\!`, `{,}`, `\\,` and spaces group digits anywhere;
- text and units: `\\text{..}`/`\\mbox{..}`/`\\mathrm{..}` keep their content when it IS the answer
  (`\\text{(B)}`, `\\text{Evelyn}`) and are dropped as units after a value (`5.4 \\text{ cents}`,
  `15\\mbox{ cm}^2`); bare unit words after a number (`12 dollars`, `5 cm^2`), degrees `^\\circ`,
  `\\$`, and percent `\\%` are dropped (MATH-grader convention: `50\\%` == `50`, not `0.5`);
- a leading single-variable assignment or membership is dropped: `x = 5` -> `5`,
  `x \\in [-2,7]` -> `[-2,7]`;
- spaces are removed except between two letters (`\\cot x` must not become `\\cotx`) and between
  two digits that are not a thousands grouping (`3 5` stays `3 5`: neither 35 nor, as math-verify
  reads it, 3+5; `components.rewards.equivalence` matches it only to the same text).

>>> normalize_answer("\\\\left( 3, \\\\dfrac{\\\\pi}{2} \\\\right)")
'(3,\\\\frac{\\\\pi}{2})'
>>> normalize_answer("\\\\$32,\\\\!348"), normalize_answer("1\\u2009000"), normalize_answer("1,2")
('32348', '1000', '1,2')
>>> normalize_answer("864 \\\\mbox{ inches}^2"), normalize_answer("x = \\\\frac 59")
('864', '\\\\frac{5}{9}')
>>> normalize_answer("2½"), normalize_answer("√2"), normalize_answer("\\\\text{(B)}")
('2\\\\frac{1}{2}', '\\\\sqrt{2}', '(B)')
"""

from __future__ import annotations

import heapq
import re
import unicodedata

_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5),
           "⅖": (2, 5), "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅐": (1, 7),
           "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8), "⅑": (1, 9), "⅒": (1, 10)}
_SYMBOLS = {"π": r"\pi ", "∞": r"\infty ", "−": "-", "–": "-", "—": "-", "×": r"\times ",
            "·": r"\cdot ", "⋅": r"\cdot ", "∙": r"\cdot ", "÷": r"\div ", "≤": r"\le ",
            "≥": r"\ge ", "≠": r"\ne ", "∪": r"\cup ", "∩": r"\cap ", "∈": r"\in ", "±": r"\pm ",
            "∓": r"\mp ", "°": r"^\circ ", "θ": r"\theta ", "α": r"\alpha ", "β": r"\beta ",
            "γ": r"\gamma ", "φ": r"\phi ", "ϕ": r"\phi ", "λ": r"\lambda ", "μ": r"\mu ",
            "ω": r"\omega ", "Δ": r"\Delta ", "\u200b": "", "\ufeff": "", "\u2062": ""}
# unicode roots take their whole operand (√25 is 5), unlike LaTeX's one-token \sqrt25.
_UNICODE_ROOT = re.compile(r"([√∛∜])\s*(\d+(?:\.\d+)?|[A-Za-z]|\\[A-Za-z]+|\([^()]*\)|\{[^{}]*\})")
_ROOT_INDEX = {"√": "", "∛": "[3]", "∜": "[4]"}
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+"))
_SUPERSCRIPT_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
_UNICODE_ONE = re.compile("[" + "".join(_VULGAR) + "".join(_SYMBOLS) + "]")

_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|textup|mbox|mathrm|mathbf"
                            r"|mathit|mathsf|mathtt|hbox)\s*\{")
_WORDS = re.compile(r"[A-Za-z][A-Za-z .]*")
_UNIT_POWER = re.compile(r"\s*\^\s*\{?[23]\}?")
_UNITS = ("cm|mm|km|m|in|inch|inches|ft|foot|feet|yd|yds|yard|yards|mi|mile|miles|meter|meters|metre"
          "|metres|centimeters?|kilometers?|millimeters?|units?|square units?|sq units?|cubic units?"
          "|cents?|dollars?|degrees?|deg|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?"
          "|months?|years?|mph|kg|g|grams?|kilograms?|lbs?|pounds?|ounces?|oz|liters?|litres?|ml"
          "|gallons?|percent")
_TRAILING_UNIT = re.compile(r"(?<=[\d}.])\s+(?:square |sq |cubic )?(?:" + _UNITS + r")\.?"
                            r"(?:\^\{?[23]\}?)?$")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|(?<=[\d}])\s*\\circ(?![A-Za-z])|\\degree(?![A-Za-z])")
_GROUPED = "\x1f"   # `,\!` or `{,}` between digits: a thousands separator wherever it stands
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:(?:,|\\,|\\ |\\;|\\:|~| )\d{3})+(?![\d])(?!,\d)")
_THOUSANDS_SEP = re.compile(r",|\\,|\\ |\\;|\\:|~| ")
_ARGUMENT_BEFORE = re.compile(r"(?:\\[A-Za-z]+|[}^_])\s*$")
_SPACING = re.compile(r"\\\\|\\[,;: ]|\\q?quad\b|~")
_SPACE = re.compile(r"(?<![A-Za-z\d])\s+|\s+(?![A-Za-z\d])|(?<=[A-Za-z])\s+(?=\d)|(?<=\d)\s+(?=[A-Za-z])")
_SIZES = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)"
                    r"(?![A-Za-z])\s*\.?")
_SLASH_FRACTION = re.compile(r"(?<![\w.^])(\d+)/(\d+)(?![\w{.^])")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*(?:=|\\in(?![A-Za-z]))\s*")
_RELATIONS = re.compile(r"=|<|>|\\le|\\ge|\\ne|\\in(?![A-Za-z])")


def read_group(s: str, i: int) -> tuple[str, int] | None:
    """One LaTeX argument starting at `s[i]`: `{...}` (braces matched), `\\cmd` or one character.

    Returns (content without the outer braces, index after the argument), or None at the end of
    the string or on an unbalanced brace.
    """
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s) or s[i] in "}":
        return None
    if s[i] == "{":
        depth = 0
        for j in range(i, len(s)):
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1:j], j + 1
        return None
    if s[i] == "\\":
        m = re.match(r"\\[A-Za-z]+|\\.", s[i:])
        return (m.group(0), i + len(m.group(0))) if m else None
    return s[i], i + 1


def _unicode_to_latex(s: str) -> str:
    s = _SUPERSCRIPT_RUN.sub(lambda m: "^{" + "".join(_SUPERSCRIPTS[c] for c in m.group(0)) + "}", s)

    def one(m: re.Match) -> str:
        c = m.group(0)
        if c in _VULGAR:
            return r"\frac{%d}{%d}" % _VULGAR[c]
        return _SYMBOLS[c]

    s = _UNICODE_ONE.sub(one, s)
    s = _UNICODE_ROOT.sub(lambda m: r"\sqrt" + _ROOT_INDEX[m.group(1)] + "{"
                          + (m.group(2)[1:-1] if m.group(2)[0] in "({" else m.group(2)) + "}", s)
    # NFKC maps full-width digits/brackets and every unicode space (thin, no-break...) to ASCII.
    s = unicodedata.normalize("NFKC", s)
    return re.sub(r"\s", " ", s)


def _brace_arguments(s: str) -> str:
    """`\\frac34` / `\\frac 3{4}` -> `\\frac{3}{4}`; `\\sqrt2` -> `\\sqrt{2}` (LaTeX: one token per argument)."""
    out, i = [], 0
    pattern = re.compile(r"\\(frac|binom|sqrt)(?![A-Za-z])")
    while True:
        m = pattern.search(s, i)
        if m is None:
            out.append(s[i:])
            return "".join(out)
        out.append(s[i:m.end()])
        j, n_args = m.end(), 2 if m.group(1) != "sqrt" else 1
        if n_args == 1 and s[j:j + 1] == "[":  # \sqrt[3]{x}: keep the index as written
            k = s.find("]", j)
            if k < 0:
                i = j
                continue
            out.append(s[j:k + 1])
            j = k + 1
        for _ in range(n_args):
            g = read_group(s, j)
            if g is None:
                break
            out.append("{" + g[0] + "}")
            j = g[1]
        i = j


def _brace_partners(s: str) -> dict[int, int]:
    """Index of each `{` -> index of the `}` that closes it (as `read_group` matches them);
    an unclosed `{` has no entry. One pass."""
    partners, open_at = {}, []
    for i, c in enumerate(s):
        if c == "{":
            open_at.append(i)
        elif c == "}" and open_at:
            partners[open_at.pop()] = i
    return partners


def _strip_text_commands(s: str) -> str:
    """Inline `\\text{X}`-like groups; drop them (and a following ^2) when they are units after a value.

    One left-to-right pass (linear in the text): the content of an inlined group is read again
    for nested commands, an unclosed group loses its command word only.
    """
    if not _TEXT_COMMANDS.search(s):
        return s
    partners = _brace_partners(s)
    out: list[str] = []
    last = ""                    # last non-space character written so far
    closes: list[int] = []       # heap: closing braces of inlined groups, to drop
    i = 0

    def emit(piece: str) -> None:
        nonlocal last
        out.append(piece)
        if piece.strip():
            last = piece.rstrip()[-1]

    while True:
        m = _TEXT_COMMANDS.search(s, i)
        stop = m.start() if m else len(s)
        while closes and closes[0] < stop:   # drop the inlined groups' closing braces
            k = heapq.heappop(closes)
            emit(s[i:k])
            i = k + 1
        emit(s[i:stop])
        if m is None:
            return "".join(out)
        brace = m.end() - 1
        end = partners.get(brace)
        if end is None:                      # unbalanced: drop the command word only
            emit("{")
            i = brace + 1
            continue
        words = s[brace + 1:end].strip()
        if words.lower() in ("and", "or", ","):
            emit(",")
            i = end + 1
        elif last and _WORDS.fullmatch(words) and len(words) > 1 and last in "0123456789})":
            unit_power = _UNIT_POWER.match(s, end + 1)
            i = unit_power.end() if unit_power else end + 1
        else:
            heapq.heappush(closes, end)
            i = brace + 1


def _bracket_depths(s: str) -> list[int]:
    """Per character, how many `(`, `[`, `{` or `\\{` enclose it; LaTeX argument braces
    (`\\frac{..}`, `^{..}`, `}{..}`) are not brackets and do not count."""
    depths, stack, depth = [], [], 0
    for i, c in enumerate(s):
        if c in "([" or (c == "{" and (s[i - 1:i] == "\\" or not _ARGUMENT_BEFORE.search(s, max(0, i - 32), i))):
            stack.append(True)
            depth += 1
        elif c == "{":
            stack.append(False)
        elif c in ")]}" and stack:
            depth -= stack.pop()
        depths.append(depth)
    return depths


def _join_digit_groups(s: str) -> str:
    """Drop thousands separators: a plain comma groups digits only outside brackets."""
    if not _THOUSANDS.search(s):
        return s
    depths = _bracket_depths(s)

    def join(m: re.Match) -> str:
        text = m.group(0)
        if depths[m.start()] > 0 and re.search(r"(?<!\\),", text):
            return text
        return _THOUSANDS_SEP.sub("", text)

    return _THOUSANDS.sub(join, s)


def _strip_wrappers(s: str) -> str:
    s = s.strip()
    while True:
        before = s
        s = s.strip().strip("$").strip()
        for left, right in ((r"\(", r"\)"), (r"\[", r"\]")):
            if s.startswith(left) and s.endswith(right):
                s = s[len(left):-len(right)].strip()
        m = re.match(r"\\(?:boxed|fbox)\s*\{", s)
        if m:
            g = read_group(s, m.end() - 1)
            if g is not None and g[1] == len(s):
                s = g[0]
        s = re.sub(r"\\displaystyle(?![A-Za-z])", "", s)
        s = re.sub(r"[.;]+$", "", s) if not s.endswith("\\.") and not s.endswith("...") else s
        if s == before:
            return s


def _slash_to_frac(m: re.Match) -> str:
    # `\sqrt{2}/2` must stay a quotient of the root; only a number after an environment opener
    # (`\begin{pmatrix}1/5`) is a fresh term after a `}`.
    before = m.string[:m.start()]
    if before.endswith("}") and not re.search(r"\\begin\{\w+\}$", before):
        return m.group(0)
    return r"\frac{%s}{%s}" % (m.group(1), m.group(2))


def normalize_answer(answer: str) -> str:
    """Canonical form of one final answer (see the module docstring for every rule).

    Never raises on text; a non-string is a TypeError. The result may be "" (no answer).
    """
    if not isinstance(answer, str):
        raise TypeError(f"normalize_answer: expected a str answer, got {type(answer).__name__}")
    s = _unicode_to_latex(answer)
    s = _strip_wrappers(s)
    s = re.sub(r"\\[dtc]frac(?![A-Za-z])", r"\\frac", s)
    s = re.sub(r"\\[dt]binom(?![A-Za-z])", r"\\binom", s)
    s = re.sub(r"\\lbrace(?![A-Za-z])", r"\\{", re.sub(r"\\rbrace(?![A-Za-z])", r"\\}", s))
    s = _SIZES.sub("", s)
    s = re.sub(r"\\(?:mid|vert)(?![A-Za-z])", "|", s)
    # MATH writes thousands as 10,\!080 (and 1{,}000): unambiguous groupings, even in a tuple
    s = re.sub(r"(?<=\d)(?:,\s*\\!\s*|\{,\})(?=\d)", _GROUPED, s)
    s = re.sub(r",\s*\\!\s*", ",", s)
    s = re.sub(r"\\!", "", s)
    s = s.replace("{,}", ",")
    s = re.sub(r"\\[hv]space\*?\{[^{}]*\}|\\(?:small|large|Large|normalsize|scriptsize|tiny)(?![A-Za-z])", " ", s)
    s = _strip_text_commands(s)
    s = re.sub(r"\s+(?:or|and)\s+", ",", s)  # `1 or 5`, `3 and 4`: a list of answers
    s = s.replace("{-}", "-").replace("{+}", "+")
    s = re.sub(r"\\textdollar(?![A-Za-z])|\\\$|\$", "", s)
    s = re.sub(r"(?<=\d)(?:''|'|\^\{?\\prime\}?)$", "", s.strip())  # 16'' (inches), 5' (feet)
    s = re.sub(r"\\?%", "", s)
    s = _DEGREES.sub("", s)
    s = _TRAILING_UNIT.sub("", s.strip())
    s = re.sub(_GROUPED + r"(?=\d{3}(?!\d))", "", s).replace(_GROUPED, ",")
    s = _join_digit_groups(s)
    s = _SPACING.sub(lambda m: m.group(0) if m.group(0) == "\\\\" else " ", s)
    s = _SPACE.sub("", s.strip())
    s = re.sub(r" +", " ", s)
    s = _brace_arguments(s)
    s = _SLASH_FRACTION.sub(_slash_to_frac, s)
    m = _ASSIGNMENT.match(s)
    if m and not _RELATIONS.search(s[m.end():]):
        s = s[m.end():]
    return _strip_wrappers(s)

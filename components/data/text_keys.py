"""Text keys for matching problems: exact keys, canonical keys, tokens, shingles, numbers.

Deduplication and decontamination (docs/method.md section 5) must see through formatting that does
not change a problem: whitespace, LaTeX spacing (`\\,`, `\\quad`, `\\left`), `\\dfrac` vs
`\\frac`, `\\cdot` vs `*`, `$` delimiters, braces around one exponent or index character (`x^{2}`), thousands separators (`1,000`, `1{,}000`) and
trailing decimal zeros (`3.0`, `2.50`). `canonical_tokens` removes all of these and splits the
rest into words, numbers, LaTeX commands and single symbols; the canonical key is the tokens
joined without spaces, so two formatting variants of one problem have the same key.

>>> canonical_key("Compute  7 + 5\\\\cdot 3.") == canonical_key("compute 7+5*3.")
True
>>> canonical_key("Find $1{,}000 \\\\div 2.0$") == canonical_key("Find 1,000/2")
True
>>> numbers("Compute 12+5.50*3")
('12', '5.5', '3')
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WS = re.compile(r"\s+")
_REPLACEMENTS = (
    (re.compile(r"\\(?:left|right|displaystyle|textstyle|big|Big|bigg|Bigg)(?![a-zA-Z])"), ""),
    (re.compile(r"\\[dt]frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\(?:cdot|times)(?![a-zA-Z])|[×·∙⋅]"), "*"),
    (re.compile(r"\\div(?![a-zA-Z])|÷"), "/"),
    (re.compile(r"\\(?:q?quad|[,;:! ])|~|\$"), " "),
    (re.compile(r"\{,\}"), ""),
    # x^{2} -> x^2, a_{1} -> a_1: braces around one character after ^ or _ change nothing
    (re.compile(r"(?<=[\^_])\{\s*([A-Za-z0-9])\s*\}"), r"\1"),
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
    # 3.50 -> 3.5, 3.0 -> 3 (only when the digits after the point end the number)
    (re.compile(r"(\d)\.(\d*?)0+(?![\d])"), lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else "")),
)
_TOKEN = re.compile(r"\\[a-zA-Z]+|[^\W\d_]+|\d+(?:\.\d+)?|\S")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def exact_key(text: str) -> str:
    """Hash of the text after Unicode NFKC and whitespace collapsing (byte-level duplicates)."""
    s = _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def canonical_text(text: str) -> str:
    """Lower-cased NFKC text with formatting-only LaTeX and number variants removed."""
    s = unicodedata.normalize("NFKC", text)
    for pattern, repl in _REPLACEMENTS:
        s = pattern.sub(repl, s)
    return s.lower()


def canonical_tokens(text: str) -> list[str]:
    """Words, numbers, LaTeX commands and single symbols of `canonical_text(text)`."""
    return _TOKEN.findall(canonical_text(text))


def canonical_key(text: str) -> str:
    """The canonical tokens joined without separators: equal for formatting variants."""
    return "".join(canonical_tokens(text))


def numbers(text: str) -> tuple[str, ...]:
    """The numbers of the canonical text in order (two near-duplicates must share them)."""
    return tuple(_NUMBER.findall(canonical_text(text)))


def char_shingles(key: str, n: int) -> set[bytes]:
    """Character n-grams of a canonical key, as bytes for MinHash (the whole key if shorter)."""
    data = key.encode("utf-8", "surrogatepass")
    if len(data) <= n:
        return {data}
    return {data[i:i + n] for i in range(len(data) - n + 1)}


def token_ngrams(tokens: list[str], n: int) -> list[str]:
    """Token n-grams joined by a space (empty when there are fewer than n tokens)."""
    return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]

"""Canonical keys: formatting variants collide, different problems do not."""

from components.data.text_keys import canonical_key, canonical_tokens, exact_key, numbers, token_ngrams


def test_variants_share_a_canonical_key():
    base = "Find $x$ if $2x + 1{,}000 = 3.50 \\cdot 4$."
    for v in ("Find x if 2x+1,000=3.5*4.", "find $x$ if $2x\\,+\\,1000 = 3.50\\times 4$.",
              "Find  $x$ if $2x + 1000 = 3.500 \\cdot 4$."):
        assert canonical_key(v) == canonical_key(base), v
    assert canonical_key("\\dfrac{1}{2}") == canonical_key("\\frac{1}{2}")
    assert canonical_key("\\left(x+1\\right)") == canonical_key("(x + 1)")


def test_different_problems_differ():
    assert canonical_key("Compute 3.05+1.") != canonical_key("Compute 3.5+1.")
    assert canonical_key("Compute 12+5.") != canonical_key("Compute 1+25.")
    assert numbers("Compute 12+5*3.") == ("12", "5", "3")


def test_exact_key_ignores_only_whitespace():
    assert exact_key("Compute  2+3. ") == exact_key("Compute 2+3.")
    assert exact_key("Compute 2 + 3.") != exact_key("Compute 2+3.")


def test_ngrams():
    toks = canonical_tokens("a b c d")
    assert token_ngrams(toks, 3) == ["a b c", "b c d"] and token_ngrams(toks, 5) == []

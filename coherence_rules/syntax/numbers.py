"""The numbers of the language: what a number token means, and the range it must lie in.

A number is written ``[+-]digits[.digits]`` (no exponent). An integer must lie within
±(2**63 - 1), what the engine stores without saturating (and far below Python's limit of 4,300
digits for converting text to an integer); a decimal must be finite (a decimal of more than 308
integer digits is infinite as a float). Anything else is out of range: E307 at the number
(``docs/language.md``, "Lexical structure").
"""

from __future__ import annotations

import math
from typing import Optional, Union

#: The largest integer the language keeps (and the engine stores exactly).
MAX_INT = 2**63 - 1


def number_value(text: str) -> Optional[Union[int, float]]:
    """The value of the number token ``text``, or None when it is out of range. The length is
    checked before converting, so a 5,000-digit number costs nothing and raises nothing."""
    digits = text.lstrip("+-")
    whole, dot, _ = digits.partition(".")
    whole = whole.lstrip("0")
    if dot:
        if len(whole) > 309:  # beyond any finite float: not worth converting
            return None
        value = float(text)
        return value if math.isfinite(value) else None
    if len(whole) > 19:
        return None
    value = int(text)
    return value if -MAX_INT <= value <= MAX_INT else None


def out_of_range_message(text: str) -> str:
    """The E307 message for the number ``text`` (shortened when long)."""
    shown = text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text.lstrip('+-').replace('.', ''))} digits)"
    kind = "decimal" if "." in text else "integer"
    bound = "finite" if kind == "decimal" else "within ±9223372036854775807 (2**63 - 1)"
    return f"number {shown} is out of range: a{'n' if kind == 'integer' else ''} {kind} must be {bound}"

"""Numbers for people: digits that follow the magnitude, p-values and probabilities
that never read 0 or 100%, and no computer notation ("6.8e+02") in sentences."""

from __future__ import annotations

import math

__all__ = ["format_effect", "format_number", "format_p", "format_prob", "p_clause"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MINUS = "\u2212"


def _minus(text: str) -> str:
    return text.replace("-", MINUS)


def format_number(x: float | None, sig: int = 3) -> str:
    """A number with ``sig`` significant digits, in plain notation where readable.

    >>> format_number(680.4), format_number(0.000123456), format_number(-2.5e-7)
    ('680', '0.000123', '−2.5 × 10⁻⁷')
    >>> format_number(0.9), format_number(12345.678)
    ('0.9', '12\u2009346')
    """
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    exp = math.floor(math.log10(abs(x)))
    if -5 <= exp < 7:
        decimals = max(sig - 1 - exp, 0)
        text = f"{round(x, decimals):,.{decimals}f}".replace(",", "\u2009")
        if "." in text:   # significant digits, as %g would show them
            text = text.rstrip("0").rstrip(".")
        return _minus(text)
    mantissa = f"{x / 10**exp:.{max(sig - 1, 0)}g}"
    return _minus(mantissa) + " × 10" + str(exp).translate(_SUPERSCRIPT)


def format_effect(value: float | None, digits: int = 2) -> str:
    """An effect for display: ``digits`` decimals, more when the value is smaller than
    they can show (a risk difference of −0.0042 is not "0.00"), a real minus sign.

    >>> format_effect(-0.1234), format_effect(-0.0042), format_effect(0.0)
    ('−0.12', '−0.0042', '0.00')
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    if value != 0 and abs(value) < 0.5 * 10 ** -digits:
        digits = -math.floor(math.log10(abs(value))) + 1
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return _minus(text)


def format_p(p: float | None) -> str:
    """A p-value: four decimals, never 0 ("< 0.0001") and never 1 ("> 0.9999").

    >>> format_p(3e-9), format_p(0.04567), format_p(1.0)
    ('< 0.0001', '0.0457', '> 0.9999')
    """
    if p is None or not math.isfinite(p):
        return "n/a"
    if p < 1e-4:
        return "< 0.0001"
    if p > 0.9999:
        return "> 0.9999"
    return f"{p:.4f}"


def p_clause(p: float | None, symbol: str = "P") -> str:
    """"P = 0.0183" or "P < 0.0001", as RevMan writes it.

    >>> p_clause(0.01834), p_clause(1e-9)
    ('P = 0.0183', 'P < 0.0001')
    """
    text = format_p(p)
    return f"{symbol} {text}" if text[0] in "<>" else f"{symbol} = {text}"


def format_prob(p: float | None) -> str:
    """A probability in percent that never reads 0% or 100%: a posterior probability is
    never certain, even when it rounds to 1 in floating point.

    >>> format_prob(0.99996), format_prob(0.0004), format_prob(0.123), format_prob(1.0)
    ('> 99.9%', '< 0.1%', '12%', '> 99.9%')
    """
    if p is None or not math.isfinite(p):
        return "n/a"
    if p > 0.999:
        return "> 99.9%"
    if p < 0.001:
        return "< 0.1%"
    if 0.01 <= p <= 0.99:
        return f"{100 * p:.0f}%"
    return f"{100 * p:.1f}%"

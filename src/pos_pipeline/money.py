"""Exact money arithmetic in integer cents, and its decimal-string wire form.

Money never touches a float: amounts are integer cents on the hot path and
``Decimal`` at the edges, rounded half-up as Canadian receipts are.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MILLI = Decimal("0.001")


def round_half_up(value: Decimal, places: Decimal = CENT) -> Decimal:
    """Round a decimal half-up (0.005 → 0.01) to ``places``."""
    return value.quantize(places, rounding=ROUND_HALF_UP)


def div_round_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounded half away from zero, for non-negative denominators."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def cash_round(cents: int) -> int:
    """Round a cash total to the nearest five cents (no penny since 2013).

    Endings 1, 2 go down to 0; 3, 4 up to 5; 6, 7 down to 5; 8, 9 up to the next 0.
    """
    remainder = cents % 5
    return cents - remainder if remainder <= 2 else cents + 5 - remainder


def format_cents(cents: int) -> str:
    """Render integer cents as a two-decimal string: 1230 → "12.30", -2 → "-0.02"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def format_millis(millis: int) -> str:
    """Render integer thousandths as a three-decimal string: 1234 → "1.234", -1 → "-0.001"."""
    sign = "-" if millis < 0 else ""
    whole, frac = divmod(abs(millis), 1000)
    return f"{sign}{whole}.{frac:03d}"


def cents_of(value: Decimal) -> int:
    """Exact integer cents of a decimal with at most two decimal places."""
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than two decimals")
    return int(scaled)

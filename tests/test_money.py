"""Integer-cent money arithmetic: half-up rounding, cash rounding to 5 cents, wire formatting."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_pipeline.money import (
    MILLI,
    cash_round,
    cents_of,
    div_round_half_up,
    format_cents,
    format_millis,
    round_half_up,
)

FAST = settings(max_examples=300, deadline=None, database=None)


# --- cash rounding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (0, 0),
        (1, 0),  # ...1 down to ...0
        (2, 0),  # ...2 down to ...0
        (3, 5),  # ...3 up to ...5
        (4, 5),  # ...4 up to ...5
        (5, 5),
        (6, 5),  # ...6 down to ...5
        (7, 5),  # ...7 down to ...5
        (8, 10),  # ...8 up to the next ...0
        (9, 10),  # ...9 up to the next ...0
        (10, 10),
        (491, 490),
        (492, 490),
        (493, 495),
        (494, 495),
        (496, 495),
        (497, 495),
        (498, 500),
        (499, 500),
        (1999, 2000),
        (123_456_789, 123_456_790),
    ],
)
def test_cash_round_table(cents: int, expected: int) -> None:
    assert cash_round(cents) == expected


@FAST
@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_cash_round_is_nearest_five(cents: int) -> None:
    rounded = cash_round(cents)
    assert rounded % 5 == 0
    assert abs(rounded - cents) <= 2
    # Nearest multiple of five is unique (no ties at a distance of 2.5), so rounding is symmetric
    # and idempotent.
    assert cash_round(-cents) == -rounded
    assert cash_round(rounded) == rounded


def test_cra_cash_rounding_example() -> None:
    """CRA GI-131: $1.83 + $2.86 + 5 % GST = $4.92, paid $4.90 in cash."""
    subtotal = cents_of(Decimal("1.83")) + cents_of(Decimal("2.86"))
    gst = div_round_half_up(subtotal * 5, 100)
    total = subtotal + gst
    assert (subtotal, gst, total) == (469, 23, 492)
    assert format_cents(total) == "4.92"
    assert format_cents(cash_round(total)) == "4.90"


# --- half-up rounding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        ("0.005", None, "0.01"),  # half-up, where banker's rounding would give 0.00
        ("0.015", None, "0.02"),
        ("0.025", None, "0.03"),  # banker's rounding would give 0.02
        ("0.0049", None, "0.00"),
        ("1.2986", None, "1.30"),
        ("-0.005", None, "-0.01"),  # away from zero
        ("0.0005", MILLI, "0.001"),
        ("0.7554", MILLI, "0.755"),
    ],
)
def test_round_half_up(value: str, places: Decimal | None, expected: str) -> None:
    result = round_half_up(Decimal(value)) if places is None else round_half_up(Decimal(value), places)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 10, 1),
        (4, 10, 0),
        (15, 10, 2),
        (25, 10, 3),  # half-up, not half-even
        (-5, 10, -1),  # half away from zero
        (-4, 10, 0),
        (-25, 10, -3),
        (1298, 1000, 1),
        (1299, 1000, 1),
        (1500, 1000, 2),
        (0, 7, 0),
        (7, 1, 7),
    ],
)
def test_div_round_half_up_table(numerator: int, denominator: int, expected: int) -> None:
    assert div_round_half_up(numerator, denominator) == expected


@FAST
@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=1, max_value=10**7),
)
def test_div_round_half_up_matches_decimal(numerator: int, denominator: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 60
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert div_round_half_up(numerator, denominator) == int(expected)


@FAST
@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=1, max_value=10**6),
)
def test_div_round_half_up_exact_half_goes_away_from_zero(k: int, half: int) -> None:
    """(2k+1)·d / 2d is exactly k + ½ and must round away from zero."""
    denominator = 2 * half
    numerator = (2 * k + 1) * half
    expected = k + 1 if k >= 0 else k
    assert div_round_half_up(numerator, denominator) == expected


# --- cents_of -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [("0", 0), ("0.01", 1), ("1.23", 123), ("12.30", 1230), ("4.9", 490), ("-0.05", -5)],
)
def test_cents_of(text: str, cents: int) -> None:
    assert cents_of(Decimal(text)) == cents


@pytest.mark.parametrize("text", ["0.001", "1.235", "0.0001"])
def test_cents_of_rejects_sub_cent_values(text: str) -> None:
    with pytest.raises(ValueError, match="more than two decimals"):
        cents_of(Decimal(text))


# --- formatting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (9, "0.09"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (1230, "12.30"),
        (123_456_789, "1234567.89"),
        (-1, "-0.01"),
        (-2, "-0.02"),
        (-99, "-0.99"),
        (-100, "-1.00"),
        (-1230, "-12.30"),
    ],
)
def test_format_cents(cents: int, text: str) -> None:
    assert format_cents(cents) == text


@FAST
@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_format_cents_round_trips(cents: int) -> None:
    text = format_cents(cents)
    assert Decimal(text).as_tuple().exponent == -2
    assert cents_of(Decimal(text)) == cents
    assert text.startswith("-") == (cents < 0)


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (0, "0.000"),
        (1, "0.001"),
        (5, "0.005"),
        (50, "0.050"),
        (755, "0.755"),
        (1000, "1.000"),
        (1234, "1.234"),
        (25_000, "25.000"),
    ],
)
def test_format_millis(millis: int, text: str) -> None:
    assert format_millis(millis) == text


@FAST
@given(st.integers(min_value=0, max_value=10**12))
def test_format_millis_round_trips_non_negative(millis: int) -> None:
    text = format_millis(millis)
    assert Decimal(text).as_tuple().exponent == -3
    assert Decimal(text) * 1000 == millis


@pytest.mark.parametrize(
    ("millis", "text"),
    [(-1, "-0.001"), (-5, "-0.005"), (-1234, "-1.234"), (-25_999, "-25.999")],
)
def test_format_millis_negative(millis: int, text: str) -> None:
    assert format_millis(millis) == text

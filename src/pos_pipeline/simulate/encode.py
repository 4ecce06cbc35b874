"""Fast JSON encoding of contract-v1 transactions and restock events.

The generator produces ten thousands of receipts a second, so encoding avoids
building dictionaries: strings are assembled from precomputed pieces (money
and clock tables, one cached fragment per distinct unit-priced line). The
output is compact JSON, parsed identically to ``orjson.dumps`` of the
reference builder in :mod:`pos_pipeline.contract.receipt` (a test holds
them to that).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from pos_pipeline.money import format_cents
from pos_pipeline.reference.catalogue import PAYMENT_METHODS, Product

#: Money texts precomputed up to $499.99: all but about one receipt total in a thousand.
MONEY_TABLE_SIZE = 50_000
#: Line totals and tax totals, nearly always under $100, get a smaller table.
SMALL_TABLE_SIZE = 10_000
MAX_WEIGHED_MILLIS = 5000


def _texts(wholes: int, fractions: int, width: int, before: str = "", after: str = "") -> list[str]:
    """``before + f"{w}.{f:0{width}d}" + after`` for every w below ``wholes`` and f below ``fractions``.

    Built as one string joined and split, in C, rather than one concatenation per entry (three
    times faster): these tables are made before the first receipt, so they count towards start-up.
    """
    assert "\n" not in before + after
    tail = "\n".join(f"{f:0{width}d}{after}" for f in range(fractions))
    return "\n".join(f"{before}{w}." + tail.replace("\n", f"\n{before}{w}.") for w in range(wholes)).split(
        "\n"
    )


def _money_texts(before: str = "", after: str = "", size: int = MONEY_TABLE_SIZE) -> list[str]:
    """``before + format_cents(c) + after`` for every c below ``size`` (a multiple of 100)."""
    return _texts(size // 100, 100, 2, before, after)


@dataclass(frozen=True, slots=True)
class _Tables:
    """Precomputed text pieces, built once per process on first use (not at import)."""

    money: list[str]
    money_array: np.ndarray
    clock: list[str]
    clock_array: np.ndarray
    millis: list[str]
    millis_array: np.ndarray
    line_no_array: np.ndarray
    kilograms: np.ndarray
    # Money with the JSON around it in a receipt's closing, looked up rather than concatenated.
    subtotal: np.ndarray
    tax_total: np.ndarray
    total: np.ndarray
    line_total: np.ndarray
    payments: np.ndarray


def _objects(texts: list[str]) -> np.ndarray:
    array = np.empty(len(texts), dtype=object)
    array[:] = texts
    return array


@cache
def _tables() -> _Tables:
    money = _money_texts()
    two = [f"{n:02d}" for n in range(60)]
    clock = [f"{h}:{m}:" + s for h in two[:24] for m in two for s in two]
    millis = [f".{m:03d}" for m in range(1000)]
    return _Tables(
        money=money,
        money_array=_objects(money),
        clock=clock,
        clock_array=_objects(clock),
        millis=millis,
        millis_array=_objects(millis),
        line_no_array=_objects([f'{{"line_no":{n},' for n in range(1, 1001)]),
        kilograms=_objects(_texts(MAX_WEIGHED_MILLIS // 1000 + 1, 1000, 3)[: MAX_WEIGHED_MILLIS + 1]),
        subtotal=_objects(_money_texts('],"subtotal":"', '","taxes":[')),
        tax_total=_objects(_money_texts('],"tax_total":"', '"', SMALL_TABLE_SIZE)),
        total=_objects(_money_texts('","total":"', '"}')),
        line_total=_objects(_money_texts("", '","taxes":', SMALL_TABLE_SIZE)),
        payments=_objects([f',"payment_method":"{m}","currency":"CAD","items":[' for m in PAYMENT_METHODS]),
    )


def money(cents: int) -> str:
    """Two-decimal string of integer cents."""
    table = _tables().money
    return table[cents] if 0 <= cents < len(table) else format_cents(cents)


def clock(local_ms: int) -> str:
    """``HH:MM:SS.mmm`` of milliseconds since local midnight."""
    seconds, millis = divmod(local_ms, 1000)
    tables = _tables()
    return tables.clock[seconds] + tables.millis[millis]


def uuid_texts(raw: np.ndarray) -> np.ndarray:
    """Canonical 8-4-4-4-12 strings of an (n, 16) uint8 array of UUIDs (an object array)."""
    digits = np.frombuffer(raw.tobytes().hex().encode(), dtype="S1").reshape(len(raw), 32)
    dashed = np.full((len(raw), 36), b"-", dtype="S1")
    dashed[:, [*range(8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)]] = digits
    texts: np.ndarray = np.frombuffer(dashed.tobytes(), dtype="S36").astype("U36").astype(object)
    return texts


def tax_codes_json(codes: tuple[str, ...]) -> str:
    """A line's ``taxes`` array."""
    return "[" + ",".join(f'"{c}"' for c in codes) + "]"


def framed_many(table: np.ndarray, before: str, after: str, cents: np.ndarray) -> np.ndarray:
    """``before + money + after`` for many cents, from a precomputed table where possible."""
    inside = (cents >= 0) & (cents < len(table))
    out: np.ndarray = table[np.where(inside, cents, 0)]
    for i in np.flatnonzero(~inside).tolist():
        out[i] = before + format_cents(int(cents[i])) + after
    return out


def receipt_closings(
    subtotal: np.ndarray,
    tax_parts: np.ndarray,
    tax_total: np.ndarray,
    rounding: np.ndarray,
    total: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The pieces after the items array: subtotal, taxes, tax_total, rounding and total."""
    rounding_text = np.array([f',"rounding":"{format_cents(c)}' for c in range(-2, 3)], dtype=object)
    tables = _tables()
    return (
        framed_many(tables.subtotal, '],"subtotal":"', '","taxes":[', subtotal),
        tax_parts,
        framed_many(tables.tax_total, '],"tax_total":"', '"', tax_total),
        rounding_text[rounding + 2],
        framed_many(tables.total, '","total":"', '"}', total),
    )


def money_many(cents: np.ndarray) -> np.ndarray:
    """Two-decimal strings of many integer cents (an object array)."""
    table = _tables().money_array
    inside = (cents >= 0) & (cents < len(table))
    out: np.ndarray = table[np.where(inside, cents, 0)]
    for i in np.flatnonzero(~inside).tolist():
        out[i] = format_cents(int(cents[i]))
    return out


def clock_many(local_ms: np.ndarray) -> np.ndarray:
    """``HH:MM:SS.mmm`` strings of many milliseconds-since-midnight (an object array)."""
    tables = _tables()
    result: np.ndarray = tables.clock_array[local_ms // 1000] + tables.millis_array[local_ms % 1000]
    return result


def line_numbers(line_no: np.ndarray) -> np.ndarray:
    """``{"line_no":N,`` openings for many lines (an object array)."""
    table = _tables().line_no_array
    if int(line_no.max(initial=1)) <= len(table):
        result: np.ndarray = table[line_no - 1]
        return result
    return np.array([f'{{"line_no":{n},' for n in line_no.tolist()], dtype=object)


class LineEncoder:
    """Encodes basket lines after their ``line_no``, caching fragments of unit-priced lines."""

    def __init__(self, products: tuple[Product, ...]) -> None:
        self.products = products
        self._head = [f'"sku":"{p.sku}","category":"{p.category}","quantity":"' for p in products]
        self._price = [money(p.price_cents) for p in products]
        self._head_array = np.array(self._head, dtype=object)
        self._price_no_discount = np.array(
            [f'","unit_price":"{p}","discount":"0.00","line_total":"' for p in self._price], dtype=object
        )
        self._price_array = np.array(
            [f'","unit_price":"{p}","discount":"' for p in self._price], dtype=object
        )
        self._cache: dict[tuple[int, int, int, str], str] = {}

    def fragments(
        self,
        skus: np.ndarray,
        quantity: np.ndarray,
        weighed: np.ndarray,
        discount: np.ndarray,
        line_total: np.ndarray,
        tax_mask: np.ndarray,
        codes_json: list[str],
    ) -> np.ndarray:
        """Each line's JSON after ``{"line_no":N,`` (an object array).

        ``codes_json[tax_mask[i]]`` is line i's ``taxes`` array.
        """
        out = np.empty(len(skus), dtype=object)
        unit = np.flatnonzero(~weighed)
        if len(unit):
            # Unit-priced lines repeat: encode each distinct one once.
            packed = ((skus[unit] << 13 | quantity[unit]) << 24 | discount[unit]) << 4 | tax_mask[unit]
            distinct, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
            table = np.empty(len(distinct), dtype=object)
            for row, i in enumerate(unit[first].tolist()):
                table[row] = self._unit_fragment(
                    int(skus[i]),
                    int(quantity[i]),
                    int(discount[i]),
                    int(line_total[i]),
                    codes_json[int(tax_mask[i])],
                )
            out[unit] = table[inverse.ravel()]
        kilos = np.flatnonzero(weighed)
        if len(kilos):
            sku, disc = skus[kilos], discount[kilos]
            # Undiscounted weighed lines (most of them) share their price and discount text.
            middle = np.where(
                disc == 0,
                self._price_no_discount[sku],
                self._price_array[sku] + money_many(disc) + '","line_total":"',
            )
            out[kilos] = (
                self._head_array[sku]
                + _tables().kilograms[quantity[kilos].clip(0, MAX_WEIGHED_MILLIS)]
                + middle
                + framed_many(_tables().line_total, "", '","taxes":', line_total[kilos])
                + np.array([c + "}" for c in codes_json], dtype=object)[tax_mask[kilos]]
            )
        return out

    def _unit_fragment(self, sku: int, quantity: int, discount: int, line_total: int, taxes: str) -> str:
        key = (sku, quantity, discount, taxes)
        fragment = self._cache.get(key)
        if fragment is None:
            fragment = (
                f'{self._head[sku]}{quantity // 1000}","unit_price":"{self._price[sku]}",'
                f'"discount":"{money(discount)}","line_total":"{money(line_total)}","taxes":{taxes}}}'
            )
            self._cache[key] = fragment
        return fragment


def payment_texts(methods: np.ndarray) -> np.ndarray:
    """The ``payment_method`` member, the constant currency and the opening of ``items``."""
    result: np.ndarray = _tables().payments[methods]
    return result

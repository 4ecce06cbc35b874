"""The loader's fast checker gives exactly the reference checker's answer, on good and bad messages.

The reference (``contract.validate``: the JSON Schema, then Decimal arithmetic) is the
specification. For every simulated receipt the fast path must accept without falling back and
write the very rows the reference's values give; for every mutation of a receipt (each field
replaced by values of the wrong type, the wrong form, or off by a cent) both must accept with the
same rows or reject with the same error class and reason.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import date, datetime
from functools import cache
from typing import Any

import orjson
import pytest

from pos_pipeline.contract.validate import Rejection, check, decode, reference_entities
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.warehouse.checked_receipt import CheckedReceipt, ReceiptChecker, rows_of

Doc = dict[str, Any]
# Days that cover the 2024-25 GST/HST break, a PST province change and ordinary trading.
DAYS = (date(2024, 12, 20), date(2025, 2, 20), date(2025, 7, 3))


@cache
def receipts(day: date) -> tuple[bytes, ...]:
    return tuple(ChainSimulator("fast-check", 1.0).day(day).values)


def checker() -> ReceiptChecker:
    return ReceiptChecker(reference_entities(), tax_table())


Outcome = CheckedReceipt | tuple[str, str]


def same_values(receipt: Outcome) -> Outcome:
    """The receipt with its two clock fields parsed: the paths may spell one instant differently."""
    if isinstance(receipt, tuple):
        return receipt
    fields = receipt.transaction_row.split("\t")
    fields[5:7] = [datetime.fromisoformat(f).isoformat() for f in fields[5:7]]
    return dataclasses.replace(receipt, transaction_row="\t".join(fields))


def reference(value: bytes) -> Outcome:
    """What the reference checker makes of ``value``: its rows, or (error_class, reason)."""
    try:
        tx = check(decode(value), reference_entities(), tax_table())
    except Rejection as rejection:
        return (rejection.error_class, rejection.reason)
    return same_values(rows_of(tx, hashlib.sha256(value).digest(), None))


def fast(value: bytes, ours: ReceiptChecker | None = None) -> Outcome:
    try:
        return same_values((ours or checker()).check(value, None))
    except Rejection as rejection:
        return (rejection.error_class, rejection.reason)


def test_every_simulated_receipt_takes_the_fast_path_and_writes_the_reference_rows() -> None:
    ours = checker()
    checked = 0
    for day in DAYS:
        for value in receipts(day)[:1500]:
            assert fast(value, ours) == reference(value)
            checked += 1
    assert ours.fallbacks == 0, "a valid simulated receipt fell back to the reference checker"
    assert checked == 1500 * len(DAYS)


def test_cash_member_and_multi_tax_receipts_are_among_them() -> None:
    docs = [orjson.loads(v) for day in DAYS for v in receipts(day)[:1500]]
    assert any(d["payment_method"] == "cash" and d["rounding"] != "0.00" for d in docs)
    assert any(d["customer_id"] is not None for d in docs)
    assert any(len(d["taxes"]) == 2 for d in docs)
    assert any(float(i["quantity"]) % 1 for d in docs for i in d["items"])


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(doc, list) and doc and isinstance(doc[0], (dict, list)):
        for index, value in enumerate(doc):
            yield from _leaves(value, (*path, index))
    else:
        yield path


def _set(doc: Doc, path: tuple[Any, ...], value: Any) -> Doc:
    changed = copy.deepcopy(doc)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def _variants(value: Any) -> list[Any]:
    """Wrong types, wrong forms, and near misses of a field's value."""
    found: list[Any] = [None, True, 1.0, [], {}, "", "x"]
    if isinstance(value, str):
        digits_elsewhere = value.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
        found += [value + "\n", " " + value, value.upper(), digits_elsewhere, "0" + value, value + "0"]
        if value.count(".") == 1 and value.lstrip("-").replace(".", "").isdigit():
            whole, fraction = value.split(".")
            cents = int(whole + fraction)
            width = len(fraction)
            for delta in (1, -1):
                moved = max(cents + delta, 0)
                found.append(f"{moved // 10**width}.{moved % 10**width:0{width}d}")
            found += [whole, f"{whole}.{fraction}1", f"-{value}", f"+{value}"]
    elif isinstance(value, bool):
        found += [not value]
    elif isinstance(value, int):
        found += [value + 1, value - 1, 0, -1, str(value), float(value), 2**62]
    elif isinstance(value, list):
        found += [[*value, *value], list(reversed(value)), ["GST"], ["HST", "GST"], [1]]
    return found


def mutations(doc: Doc) -> Iterator[bytes]:
    for path in _leaves(doc):
        target: Any = doc
        for step in path:
            target = target[step]
        for variant in _variants(target):
            yield orjson.dumps(_set(doc, path, variant))
    yield orjson.dumps({**doc, "extra": 1})
    yield orjson.dumps({k: v for k, v in doc.items() if k != "taxes"})
    yield orjson.dumps({**doc, "items": [{**doc["items"][0], "extra": 1}, *doc["items"][1:]]})
    yield orjson.dumps({**doc, "taxes": [*doc["taxes"], *doc["taxes"]]})
    yield orjson.dumps({**doc, "items": doc["items"][1:]})
    yield orjson.dumps(doc).replace(b'"store_id"', b'"store_\\u0069d"')


def interesting() -> list[Doc]:
    """A few receipts unlike each other: cash, member, weighed lines, two taxes."""
    docs = [orjson.loads(v) for day in DAYS for v in receipts(day)[:1500]]
    wanted = (
        lambda d: d["payment_method"] == "cash" and d["rounding"] != "0.00",
        lambda d: d["customer_id"] is not None and len(d["taxes"]) == 2,
        lambda d: any(float(i["quantity"]) % 1 for i in d["items"]),
        lambda d: any(i["discount"] != "0.00" for i in d["items"]),
    )
    return [next(d for d in docs if want(d)) for want in wanted]


@pytest.mark.parametrize("which", range(4))
def test_every_mutation_gets_the_reference_answer(which: int) -> None:
    doc = interesting()[which]
    rejected = accepted = 0
    for value in mutations(doc):
        expected = reference(value)
        assert fast(value) == expected, value
        if isinstance(expected, tuple):
            rejected += 1
        else:
            accepted += 1
    # The mutations must mostly be refused, and some (same value, other form) still accepted.
    assert rejected > 200
    assert accepted > 0

"""The shipped reference data: catalogue, stores, payment options, customers and tax tables."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from pos_pipeline.contract.receipt import rate_scaled
from pos_pipeline.contract.schema import schema
from pos_pipeline.reference.catalogue import (
    PAYMENT_METHODS,
    Store,
    payment_options,
    products,
    products_by_sku,
    stores,
    stores_by_id,
)
from pos_pipeline.reference.categories import CATEGORIES
from pos_pipeline.reference.customers import CUSTOMER_COUNT, customers
from pos_pipeline.reference.files import read_csv
from pos_pipeline.reference.tax import TAX_CODES, tax_table

PROVINCES = {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
FIRST_DAY = date(2016, 1, 1)

# Canada Post: the first letter of a postal code names the province or territory.
POSTAL_FIRST_LETTERS = {
    "NL": "A",
    "NS": "B",
    "PE": "C",
    "NB": "E",
    "QC": "GHJ",
    "ON": "KLMNP",
    "MB": "R",
    "SK": "S",
    "AB": "T",
    "BC": "V",
    "NT": "X",
    "NU": "X",
    "YT": "Y",
}
# No D, F, I, O, Q or U anywhere; no W or Z in first position.
POSTAL_CODE = re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d$")
NUNAVUT_FSAS = {"X0A", "X0B", "X0C"}

# UTC offset in mid-January (standard time), in minutes.
WINTER_OFFSET_MINUTES = {
    "NL": -210,
    "NS": -240,
    "NB": -240,
    "PE": -240,
    "QC": -300,
    "ON": -300,
    "NU": -300,  # Iqaluit, Eastern
    "MB": -360,
    "SK": -360,
    "AB": -420,
    "NT": -420,
    "YT": -420,
    "BC": -480,
}


# --- products -----------------------------------------------------------------------------


def test_catalogue_size_and_categories() -> None:
    catalogue = products()
    assert len(catalogue) >= 300
    assert {p.category for p in catalogue} == set(CATEGORIES)
    assert len(CATEGORIES) == 14


def test_skus_are_unique() -> None:
    rows = read_csv("products.csv")
    skus = [r["sku"] for r in rows]
    duplicates = [sku for sku, n in Counter(skus).items() if n > 1]
    assert duplicates == []
    assert len(products_by_sku()) == len(products()) == len(rows)


def test_product_fields() -> None:
    max_sku = schema()["$defs"]["item"]["properties"]["sku"]["maxLength"]
    for p in products():
        assert 1 <= len(p.sku) <= max_sku, p.sku
        assert p.name.strip() == p.name and p.name, p.sku
        assert p.unit in ("each", "kg"), p.sku
        assert p.popularity > 0, p.sku


def test_prices_are_positive_with_two_decimals() -> None:
    for row in read_csv("products.csv"):
        assert re.fullmatch(r"[1-9]\d*\.\d{2}|0\.\d{2}", row["unit_price"]), row
    for p in products():
        assert p.unit_price > 0, p.sku
        assert p.unit_price.as_tuple().exponent == -2, p.sku
        assert Decimal(p.price_cents) / 100 == p.unit_price


def test_some_products_are_sold_by_the_kilogram() -> None:
    weighed = [p for p in products() if p.unit == "kg"]
    assert len(weighed) >= 1
    assert {p.category for p in weighed} <= {"produce", "meat_seafood", "prepared_food"}


def test_products_are_sorted_by_sku() -> None:
    skus = [p.sku for p in products()]
    assert skus == sorted(skus)


# --- stores -------------------------------------------------------------------------------


def test_store_count_and_coverage() -> None:
    chain = stores()
    assert len(chain) >= 40
    assert {s.province for s in chain} == PROVINCES
    assert len(stores_by_id()) == len(chain)
    assert len(read_csv("stores.csv")) == len(chain)


def test_store_ids_fit_the_contract() -> None:
    max_len = schema()["properties"]["store_id"]["maxLength"]
    for s in stores():
        assert 1 <= len(s.store_id) <= max_len


@pytest.mark.parametrize("store", stores(), ids=lambda s: s.store_id)
def test_postal_code(store: Store) -> None:
    assert POSTAL_CODE.fullmatch(store.postal_code), store.postal_code
    assert store.postal_code[0] in POSTAL_FIRST_LETTERS[store.province], store.postal_code
    if store.province == "NU":
        assert store.postal_code[:3] in NUNAVUT_FSAS
    if store.province == "NT":
        assert store.postal_code[:3] not in NUNAVUT_FSAS


def test_time_zones_load_and_match_the_province() -> None:
    winter = datetime(2026, 1, 15, 12, 0)
    for s in stores():
        zone = ZoneInfo(s.timezone)
        assert s.zone.key == zone.key
        offset = winter.replace(tzinfo=zone).utcoffset()
        assert offset == timedelta(minutes=WINTER_OFFSET_MINUTES[s.province]), s.store_id


def test_saskatchewan_and_yukon_stay_on_one_offset_all_year() -> None:
    for s in stores():
        if s.province in ("SK", "YT"):
            jan = datetime(2026, 1, 15, 12, 0, tzinfo=s.zone).utcoffset()
            jul = datetime(2026, 7, 15, 12, 0, tzinfo=s.zone).utcoffset()
            assert jan == jul, s.store_id
        elif s.province == "ON":
            jan = datetime(2026, 1, 15, 12, 0, tzinfo=s.zone).utcoffset()
            jul = datetime(2026, 7, 15, 12, 0, tzinfo=s.zone).utcoffset()
            assert jul is not None and jan is not None and jul - jan == timedelta(hours=1)


def test_opening_hours_and_size() -> None:
    for s in stores():
        assert s.opens < s.closes, s.store_id
        assert s.floor_area_m2 > 0, s.store_id


def test_coordinates_are_in_canada() -> None:
    for s in stores():
        assert Decimal(41) < s.latitude < Decimal(84), s.store_id
        assert Decimal(-142) < s.longitude < Decimal(-52), s.store_id


# --- payment options ----------------------------------------------------------------------


def test_payment_options_match_the_contract() -> None:
    assert list(PAYMENT_METHODS) == schema()["properties"]["payment_method"]["enum"]
    options = payment_options()
    assert [o.payment_method for o in options] == list(PAYMENT_METHODS)
    assert {o.payment_method for o in options if not o.settles_to_cent} == {"cash"}


# --- customers ----------------------------------------------------------------------------


def test_customers_are_deterministic() -> None:
    first = customers()
    recomputed = customers.__wrapped__()  # bypass the cache: same seed, same members
    assert recomputed == first
    assert len(first) == CUSTOMER_COUNT


def test_customer_ids_unique_and_home_stores_exist() -> None:
    members = customers()
    ids = [c.customer_id for c in members]
    assert len(set(ids)) == len(ids)
    max_len = schema()["properties"]["customer_id"]["maxLength"]
    assert all(re.fullmatch(r"C\d{7}", i) and len(i) <= max_len for i in ids)
    known_stores = stores_by_id()
    assert all(c.home_store_id in known_stores for c in members)


# --- tax tables ---------------------------------------------------------------------------


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def test_tax_rates_csv_chains_cover_every_province_without_gaps_or_overlaps() -> None:
    chains: dict[tuple[str, str], list[tuple[date, date | None]]] = defaultdict(list)
    for row in read_csv("tax_rates.csv"):
        assert row["province"] in PROVINCES, row
        assert row["tax_code"] in TAX_CODES, row
        start, end = date.fromisoformat(row["effective_from"]), _day(row["effective_to"])
        assert end is None or start < end, row
        chains[(row["province"], row["tax_code"])].append((start, end))
    assert {province for province, _ in chains} == PROVINCES
    for key, ranges in chains.items():
        ranges.sort()
        assert ranges[0][0] == FIRST_DAY, key
        for (_, end), (next_start, _) in pairwise(ranges):
            assert end == next_start, f"{key}: gap or overlap at {end} / {next_start}"
        assert ranges[-1][1] is None, f"{key} ends on {ranges[-1][1]}"


def test_every_province_has_a_federal_tax_chain() -> None:
    codes: dict[str, set[str]] = defaultdict(set)
    for row in read_csv("tax_rates.csv"):
        codes[row["province"]].add(row["tax_code"])
    for province in PROVINCES:
        assert len(codes[province] & {"GST", "HST"}) == 1, province


def test_tax_rates_are_fractions_with_at_most_six_decimals() -> None:
    for row in read_csv("tax_rates.csv"):
        rate = Decimal(row["rate"])
        assert Decimal(0) < rate < Decimal(1), row
        assert rate_scaled(rate) > 0
        assert re.fullmatch(r"0\.\d{1,6}", row["rate"]), row  # the contract's rate pattern
        assert row["source"].strip(), row


def test_tax_rules_are_well_formed_and_do_not_overlap() -> None:
    rate_codes = {(r["province"], r["tax_code"]) for r in read_csv("tax_rates.csv")}
    spans: dict[tuple[str, str, str], list[tuple[date, date | None]]] = defaultdict(list)
    for row in read_csv("tax_rules.csv"):
        assert row["tax_code"] in TAX_CODES, row
        assert row["province"] == "*" or row["province"] in PROVINCES, row
        if row["province"] != "*":
            assert (row["province"], row["tax_code"]) in rate_codes, row
        categories = row["categories"].split()
        assert categories and set(categories) <= set(CATEGORIES), row
        start, end = date.fromisoformat(row["effective_from"]), _day(row["effective_to"])
        assert start >= FIRST_DAY and (end is None or start < end), row
        for category in categories:
            spans[(row["tax_code"], row["province"], category)].append((start, end))
    for key, ranges in spans.items():
        ranges.sort()
        for (_, end), (next_start, _) in pairwise(ranges):
            assert end is not None and end <= next_start, f"{key}: overlapping rules"


def test_loaded_table_matches_the_csv() -> None:
    table = tax_table()
    assert len(table.rates) == len(read_csv("tax_rates.csv"))
    assert len(table.rules) == len(read_csv("tax_rules.csv"))
    assert table.first_date == FIRST_DAY

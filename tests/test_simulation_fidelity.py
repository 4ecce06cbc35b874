"""Simulator fidelity: the simulator issue's acceptance items, as assertions that could fail.

Four simulated weeks (seed 7, from Monday 2025-03-17, 28 days, scale 0.05: about 150,000
checkouts) are generated once for this module and checked for contract validity, the Nova Scotia
HST cut, opening hours, the weekly and intraday patterns, provinces, the payment mix, basket sizes,
popularity skew, loyalty, promotions, weighed goods and categories. Smaller runs check holidays,
daylight saving time, the 2024–25 GST/HST break, stock and restocks, determinism, and (with
Hypothesis) that every receipt of a random store-day balances.

The figures behind docs/simulation.md can be re-measured with ``-s``: the four-week tests print them.
"""

from __future__ import annotations

import gc
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos_pipeline.contract.restock import check_restock
from pos_pipeline.contract.validate import KnownEntities, Rejection, check, decode, reference_entities
from pos_pipeline.reference.catalogue import Store, products, products_by_sku, stores, stores_by_id
from pos_pipeline.reference.categories import CATEGORIES, NON_FOOD, TAXABLE_FOOD
from pos_pipeline.reference.customers import customers
from pos_pipeline.reference.tax import TaxTable, tax_table
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.simulate.run import JsonLinesSink, SimulationOptions, run_simulation
from pos_pipeline.simulate.schedule import holiday_name, store_day

Doc = dict[str, Any]

WEEKS_START = date(2025, 3, 17)  # a Monday
WEEKS = SimulationOptions(seed=7, start=WEEKS_START, days=28, scale=0.05)
NS_CUT = date(2025, 4, 1)
BREAK_STARTS = date(2024, 12, 14)
CENT = Decimal("0.01")
NICKEL = Decimal("0.05")
WHOLE = re.compile(r"[1-9][0-9]*")
GRAMS = re.compile(r"[0-9]+\.[0-9]{3}")


# --- helpers ----------------------------------------------------------------------------------


def simulate(options: SimulationOptions) -> tuple[list[bytes], list[bytes]]:
    """Run a backfill into memory: transaction lines and restock lines."""
    out, inventory = io.BytesIO(), io.BytesIO()
    run_simulation(options, JsonLinesSink(out, inventory))
    return out.getvalue().splitlines(), inventory.getvalue().splitlines()


def parse_all(bodies: list[bytes]) -> list[Doc]:
    """orjson-parse many bodies; the cyclic GC is paused (millions of fresh dicts make it crawl)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return [orjson.loads(body) for body in bodies]
    finally:
        if was_enabled:
            gc.enable()


def local_day(doc: Doc) -> date:
    return date.fromisoformat(doc["occurred_at"][:10])


def local_ms(occurred_at: str) -> int:
    """Milliseconds after local midnight of "YYYY-MM-DDTHH:MM:SS.mmm±hh:mm"."""
    return (
        int(occurred_at[11:13]) * 3_600_000
        + int(occurred_at[14:16]) * 60_000
        + int(occurred_at[17:19]) * 1000
        + int(occurred_at[20:23])
    )


def zone_offset_text(store: Store, day: date, at: time) -> str:
    """The UTC offset of the store's zone at a local wall-clock time, from zoneinfo: "-04:00"."""
    offset = datetime.combine(day, at, tzinfo=store.zone).utcoffset()
    assert offset is not None
    seconds = int(offset.total_seconds())
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{'-' if seconds < 0 else '+'}{hours:02d}:{minutes:02d}"


def millis(quantity: str) -> int:
    """Thousandths of a quantity string ("2" or "0.755")."""
    whole, _, fraction = quantity.partition(".")
    return int(whole) * 1000 + int(fraction.ljust(3, "0")[:3] or 0)


def rejections(bodies: list[bytes], known: KnownEntities, taxes: TaxTable) -> list[str]:
    """Why the bodies that fail contract v1 fail (empty when all pass)."""
    failed = []
    for body in bodies:
        try:
            check(decode(body), known, taxes)
        except Rejection as exc:
            failed.append(f"{exc.error_class}: {exc.reason}")
    return failed


def share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


# --- four simulated weeks, generated once ------------------------------------------------------


@dataclass(frozen=True)
class Weeks:
    raw: list[bytes]
    docs: list[Doc]


@pytest.fixture(scope="module")
def weeks() -> Iterator[Weeks]:
    raw, _ = simulate(WEEKS)
    docs = parse_all(raw)
    gc.freeze()  # later collections skip the millions of parsed objects
    yield Weeks(raw, docs)
    gc.unfreeze()


@cache
def entities() -> KnownEntities:
    return reference_entities()


@pytest.fixture(scope="module")
def known() -> KnownEntities:
    return entities()


def test_the_four_weeks_are_the_size_the_scale_promises(weeks: Weeks) -> None:
    """~2,000 checkouts per 4,000 m² a day at scale 1: 28 days at 0.05 is well over 100,000."""
    assert 110_000 < len(weeks.docs) < 200_000
    days = {d["occurred_at"][:10] for d in weeks.docs}
    assert min(days) == "2025-03-17" and max(days) == "2025-04-13" and len(days) == 28


def test_every_transaction_of_the_four_weeks_passes_contract_v1(weeks: Weeks, known: KnownEntities) -> None:
    nova_scotia = [
        doc
        for doc in weeks.docs
        if doc["province"] == "NS" and "2025-03-28" <= doc["occurred_at"][:10] <= "2025-04-04"
    ]
    assert len(nova_scotia) > 500  # the Nova Scotia change is crossed with plenty of receipts
    failed = rejections(weeks.raw, known, tax_table())
    assert failed == [], failed[:5]


def test_nova_scotia_hst_falls_from_15_to_14_percent_on_2025_04_01(weeks: Weeks) -> None:
    rates: dict[bool, Counter[str]] = {False: Counter(), True: Counter()}
    for doc in weeks.docs:
        if doc["province"] == "NS":
            after_cut = local_day(doc) >= NS_CUT
            rates[after_cut].update(t["rate"] for t in doc["taxes"] if t["code"] == "HST")
    assert set(rates[False]) == {"0.15"} and rates[False]["0.15"] > 100
    assert set(rates[True]) == {"0.14"} and rates[True]["0.14"] > 100


def test_every_checkout_is_within_its_stores_opening_hours(weeks: Weeks) -> None:
    """Local time (occurred_at carries the store's offset) inside opens..closes, Sundays 1 h shorter."""
    by_id = stores_by_id()
    first, last = WEEKS_START, WEEKS_START + timedelta(days=27)
    # No statutory holiday falls in these weeks, so every day is an ordinary or a Sunday one.
    for n in range(28):
        for province in {s.province for s in stores()}:
            assert holiday_name(province, first + timedelta(days=n)) is None
    hours: dict[tuple[str, str], tuple[int, int, str]] = {}
    sundays = 0
    for doc in weeks.docs:
        at = doc["occurred_at"]
        key = (doc["store_id"], at[:10])
        bounds = hours.get(key)
        if bounds is None:
            store, day = by_id[doc["store_id"]], date.fromisoformat(at[:10])
            assert first <= day <= last
            trading = store_day(store, day, WEEKS.scale)
            assert trading is not None, f"{store.store_id} sold on {day}, a day it is closed"
            # store_day agrees with stores.csv: Monday to Saturday as listed, Sunday 1 h shorter at each end.
            shift = 3600 if day.weekday() == 6 else 0
            assert trading.opens_s == store.opens.hour * 3600 + store.opens.minute * 60 + shift
            assert trading.closes_s == store.closes.hour * 3600 + store.closes.minute * 60 - shift
            offset = zone_offset_text(store, day, time(12))
            bounds = hours[key] = (trading.opens_s * 1000, trading.closes_s * 1000, offset)
        opens, closes, offset = bounds
        t = local_ms(at)
        assert opens <= t < closes, f"{doc['store_id']} at {at} outside {opens // 1000}..{closes // 1000} s"
        assert 6 * 3_600_000 <= t < 23 * 3_600_000
        assert at[-6:] == offset, f"{at} is not in the store's zone ({offset})"
        sundays += at[:10] in ("2025-03-23", "2025-03-30", "2025-04-06", "2025-04-13")
    assert sundays > 10_000


def test_fridays_and_saturdays_are_busier_than_mondays_and_tuesdays(weeks: Weeks) -> None:
    per_day = Counter(doc["occurred_at"][:10] for doc in weeks.docs)
    by_weekday: dict[int, list[int]] = defaultdict(list)
    for day, count in per_day.items():
        by_weekday[date.fromisoformat(day).weekday()].append(count)
    assert all(len(counts) == 4 for counts in by_weekday.values())
    mean = {weekday: sum(counts) / 4 for weekday, counts in by_weekday.items()}
    monday, tuesday, friday, saturday = mean[0], mean[1], mean[4], mean[5]
    assert min(friday, saturday) > max(monday, tuesday) * 1.15
    assert saturday > friday


def test_after_work_and_lunch_peaks(weeks: Weeks) -> None:
    """Local hours across all stores: 17:00 busier than 09:00, 12:00 busier than 10:00."""
    per_hour = Counter(int(doc["occurred_at"][11:13]) for doc in weeks.docs)
    assert per_hour[17] > 1.5 * per_hour[9]
    assert per_hour[12] > 1.2 * per_hour[10]
    assert per_hour.most_common(1)[0][0] == 17


def test_every_province_trades_and_ontario_leads(weeks: Weeks) -> None:
    counts = Counter(doc["province"] for doc in weeks.docs)
    assert len(counts) == 13
    assert counts.most_common(1)[0][0] == "ON"
    assert counts["ON"] > counts["QC"] > counts["BC"] and counts["QC"] > counts["AB"]
    # By population BC (5.0 M) is ahead of AB (4.3 M); by floor area, which drives traffic, only 1.5%:
    # the design puts BC ahead, the observed counts keep them within noise of that order.
    area = Counter[str]()
    for store in stores():
        area[store.province] += store.floor_area_m2
    assert area["ON"] > area["QC"] > area["BC"] > area["AB"]
    assert counts["BC"] > 0.97 * counts["AB"]
    print(f"\nprovince shares: { {p: round(c / len(weeks.docs), 3) for p, c in counts.most_common()} }")


def test_payment_mix(weeks: Weeks) -> None:
    """Cash 15–25% of checkouts, less by value, falling with the basket total; debit, credit 25–45%."""
    methods = np.array([doc["payment_method"] for doc in weeks.docs])
    totals = np.array([float(doc["total"]) for doc in weeks.docs])
    cash = methods == "cash"
    cash_count, cash_value = cash.mean(), totals[cash].sum() / totals.sum()
    assert 0.15 <= cash_count <= 0.25
    assert cash_value < cash_count
    low, high = np.quantile(totals, [0.25, 0.75])
    assert cash[totals <= low].mean() > 2 * cash[totals >= high].mean()
    debit, credit = (methods == "debit").mean(), (methods == "credit").mean()
    assert 0.25 <= debit <= 0.45
    assert 0.25 <= credit <= 0.45
    mix = {m: round(float((methods == m).mean()), 4) for m in sorted(set(methods.tolist()))}
    print(f"\ncash {cash_count:.4f} by count, {cash_value:.4f} by value; mix {mix}")


def test_basket_sizes_have_quick_trips_and_a_long_tail(weeks: Weeks) -> None:
    sizes = np.array([len(doc["items"]) for doc in weeks.docs])
    single = (sizes == 1).mean()
    assert 0.05 <= single <= 0.20
    assert 6 <= sizes.mean() <= 13
    assert np.percentile(sizes, 99) >= 30
    print(f"\nsingle-line {single:.4f}, mean lines {sizes.mean():.2f}, p99 {np.percentile(sizes, 99)}")


def sku_line_counts(weeks: Weeks) -> list[int]:
    per_sku = Counter(item["sku"] for doc in weeks.docs for item in doc["items"])
    return sorted((per_sku.get(p.sku, 0) for p in products()), reverse=True)


def top_fifth_share(counts: list[int]) -> float:
    fifth = -(-len(counts) // 5)
    return sum(counts[:fifth]) / sum(counts)


@pytest.fixture(scope="module")
def sku_lines(weeks: Weeks) -> list[int]:
    """Lines per catalogue SKU over the four weeks, most sold first."""
    return sku_line_counts(weeks)


def test_popularity_is_skewed(sku_lines: list[int]) -> None:
    """The top fifth of SKUs sells far more than a fifth of the lines (and the bottom fifth far less)."""
    counts = sku_lines
    assert len(counts) == 345 and counts[-1] > 0
    assert top_fifth_share(counts) > 0.40
    assert sum(counts[-69:]) / sum(counts) < 0.08
    print(f"\ntop 20% of SKUs: {top_fifth_share(counts):.4f} of lines")


def test_top_fifth_of_skus_carries_over_half_the_lines(sku_lines: list[int]) -> None:
    top_fifth = top_fifth_share(sku_lines)
    assert top_fifth > 0.50


def test_loyalty_members_shop_mostly_at_home_and_come_back(weeks: Weeks) -> None:
    home = {c.customer_id: c.home_store_id for c in customers()}
    identified = [doc for doc in weeks.docs if doc["customer_id"] is not None]
    identified_share = len(identified) / len(weeks.docs)
    at_home = sum(home[doc["customer_id"]] == doc["store_id"] for doc in identified) / len(identified)
    visits = Counter(doc["customer_id"] for doc in identified)
    regulars = sum(1 for n in visits.values() if n >= 3)
    assert 0.45 <= identified_share <= 0.65
    assert at_home >= 0.75
    assert regulars >= 0.5 * len(home)
    print(
        f"\nidentified {identified_share:.4f}, at home store {at_home:.4f}, "
        f"members seen 3+ times {regulars} of {len(home)} ({len(visits)} seen at all)"
    )


def flyer_week(day: date) -> date:
    """The Thursday the flyer in force on ``day`` started."""
    return day - timedelta(days=(day.weekday() - 3) % 7)


def test_promoted_skus_sell_more_lines_than_their_category(weeks: Weeks) -> None:
    """Each flyer week, discounted SKUs sell more lines per SKU than the rest of their categories."""
    lines: Counter[tuple[date, str]] = Counter()
    promoted: dict[date, set[str]] = defaultdict(set)
    for doc in weeks.docs:
        week = flyer_week(local_day(doc))
        for item in doc["items"]:
            lines[week, item["sku"]] += 1
            if item["discount"] != "0.00":
                assert Decimal(item["discount"]) > 0
                promoted[week].add(item["sku"])
    catalogue = products_by_sku()
    assert len(promoted) == 5  # Thursday 2025-03-13 .. Thursday 2025-04-10
    ratios = {}
    for week, on_flyer in sorted(promoted.items()):
        categories = {catalogue[sku].category for sku in on_flyer}
        others = [p.sku for p in products() if p.category in categories and p.sku not in on_flyer]
        per_promoted = sum(lines[week, sku] for sku in on_flyer) / len(on_flyer)
        per_other = sum(lines[week, sku] for sku in others) / len(others)
        ratios[week.isoformat()] = round(per_promoted / per_other, 2)
        assert per_promoted > per_other, (
            f"flyer of {week}: {per_promoted:.1f} vs {per_other:.1f} lines per SKU"
        )
        assert 5 <= len(on_flyer) <= 30
    print(f"\npromoted / other lines per SKU by flyer week: {ratios}")


def test_weighed_goods_have_grams_and_the_rest_whole_units(weeks: Weeks) -> None:
    catalogue = products_by_sku()
    fractional_produce = 0
    for doc in weeks.docs:
        for item in doc["items"]:
            quantity = item["quantity"]
            if catalogue[item["sku"]].unit == "kg":
                assert GRAMS.fullmatch(quantity), quantity
                if item["category"] == "produce" and not quantity.endswith(".000"):
                    fractional_produce += 1
            else:
                assert WHOLE.fullmatch(quantity), f"{item['sku']} sold each in quantity {quantity}"
    assert fractional_produce > 10_000


def test_all_fourteen_categories_sell(weeks: Weeks) -> None:
    seen = {item["category"] for doc in weeks.docs for item in doc["items"]}
    assert seen == set(CATEGORIES) and len(seen) == 14


# --- holidays ----------------------------------------------------------------------------------

HOLIDAY_DATES = (
    date(2025, 2, 17),  # Family Day: Ontario closes, BC (Family Day too) trades
    date(2025, 6, 24),  # Saint-Jean-Baptiste: Quebec closes
    date(2025, 12, 17),  # an ordinary Wednesday
    date(2025, 12, 24),  # the Wednesday before Christmas
    date(2025, 12, 25),
    date(2025, 12, 26),  # Boxing Day: not a Retail Business Holidays Act day
)


@pytest.fixture(scope="module")
def checkouts_by_store() -> dict[date, Counter[str]]:
    """Checkouts per store id on each holiday-test date (a fresh chain each day)."""
    return {day: Counter(k.decode() for k in ChainSimulator("h", 0.2).day(day).keys) for day in HOLIDAY_DATES}


def store_ids(province: str) -> set[str]:
    return {s.store_id for s in stores() if s.province == province}


def test_nobody_trades_on_christmas_day(checkouts_by_store: dict[date, Counter[str]]) -> None:
    assert sum(checkouts_by_store[date(2025, 12, 25)].values()) == 0
    assert sum(checkouts_by_store[date(2025, 12, 26)].values()) > 10_000


def test_ontario_closes_on_family_day_while_bc_trades(checkouts_by_store: dict[date, Counter[str]]) -> None:
    family_day = checkouts_by_store[date(2025, 2, 17)]
    assert not store_ids("ON") & set(family_day)
    assert all(family_day[s] > 0 for s in store_ids("BC"))


def test_quebec_closes_on_june_24(checkouts_by_store: dict[date, Counter[str]]) -> None:
    june_24 = checkouts_by_store[date(2025, 6, 24)]
    assert not store_ids("QC") & set(june_24)
    assert all(june_24[s] > 0 for s in store_ids("ON"))


def test_ontario_opens_on_boxing_day(checkouts_by_store: dict[date, Counter[str]]) -> None:
    boxing_day = checkouts_by_store[date(2025, 12, 26)]
    assert all(boxing_day[s] > 0 for s in store_ids("ON"))


def test_christmas_eve_is_busier_than_the_wednesday_before(
    checkouts_by_store: dict[date, Counter[str]],
) -> None:
    def per_open_store(day: date) -> float:
        counts = checkouts_by_store[day]
        return sum(counts.values()) / len(counts)

    assert len(checkouts_by_store[date(2025, 12, 24)]) == len(checkouts_by_store[date(2025, 12, 17)]) == 50
    assert per_open_store(date(2025, 12, 24)) > 1.2 * per_open_store(date(2025, 12, 17))


# --- daylight saving time ----------------------------------------------------------------------


def offsets_by_zone(day: date) -> dict[str, set[str]]:
    batch = ChainSimulator("dst", 0.05).day(day)
    by_id = stores_by_id()
    seen: dict[str, set[str]] = defaultdict(set)
    for key, value in zip(batch.keys, batch.values, strict=True):
        store = by_id[key.decode()]
        occurred_at = orjson.loads(value)["occurred_at"]
        assert occurred_at[:10] == day.isoformat()
        label = "Toronto" if store.city == "Toronto" else store.timezone
        seen[label].add(occurred_at[-6:])
    return seen


def test_offsets_follow_daylight_saving_time_per_zone() -> None:
    """DST ends on Sunday 2025-11-02; Regina and Whitehorse do not change."""
    saturday, monday = offsets_by_zone(date(2025, 11, 1)), offsets_by_zone(date(2025, 11, 3))
    assert saturday["Toronto"] == {"-04:00"} and monday["Toronto"] == {"-05:00"}
    assert saturday["America/Toronto"] == {"-04:00"} and monday["America/Toronto"] == {"-05:00"}
    assert saturday["America/Regina"] == monday["America/Regina"] == {"-06:00"}
    assert saturday["America/Whitehorse"] == monday["America/Whitehorse"] == {"-07:00"}
    assert saturday["America/St_Johns"] == {"-02:30"} and monday["America/St_Johns"] == {"-03:30"}
    assert saturday["America/Vancouver"] == {"-07:00"} and monday["America/Vancouver"] == {"-08:00"}


# --- the 2024–25 GST/HST break -----------------------------------------------------------------


@dataclass(frozen=True)
class BreakRun:
    raw: list[bytes]
    docs: list[Doc]


@pytest.fixture(scope="module")
def tax_break() -> BreakRun:
    raw, _ = simulate(SimulationOptions(seed=7, start=date(2024, 12, 10), days=10, scale=0.05))
    return BreakRun(raw, parse_all(raw))


def break_lines(run: BreakRun) -> Iterator[tuple[bool, str, Doc]]:
    """(in the break, province, line) for every line of the run."""
    for doc in run.docs:
        in_break = local_day(doc) >= BREAK_STARTS
        for item in doc["items"]:
            yield in_break, doc["province"], item


def test_taxable_food_loses_gst_and_hst_from_2024_12_14(tax_break: BreakRun) -> None:
    federal = {"GST", "HST"}
    before, during = Counter[bool](), Counter[bool]()
    for in_break, _, item in break_lines(tax_break):
        if item["category"] in TAXABLE_FOOD:
            (during if in_break else before)[bool(federal & set(item["taxes"]))] += 1
    assert before[True] > 1000 and before[False] == 0
    assert during[False] > 1000 and during[True] == 0


def test_qst_and_bc_pst_on_soft_drinks_carry_on_through_the_break(tax_break: BreakRun) -> None:
    quebec, bc_soft_drinks = Counter[tuple[str, ...]](), Counter[tuple[str, ...]]()
    for in_break, province, item in break_lines(tax_break):
        if in_break and province == "QC" and item["category"] in TAXABLE_FOOD:
            quebec[tuple(item["taxes"])] += 1
        if in_break and province == "BC" and item["category"] == "soft_drinks":
            bc_soft_drinks[tuple(item["taxes"])] += 1
    assert set(quebec) == {("QST",)} and quebec["QST",] > 100
    assert set(bc_soft_drinks) == {("PST",)} and bc_soft_drinks["PST",] > 20


def test_non_food_keeps_gst_and_hst_in_the_break(tax_break: BreakRun) -> None:
    kept = Counter[bool]()
    for in_break, _, item in break_lines(tax_break):
        if in_break and item["category"] in NON_FOOD:
            kept[bool({"GST", "HST"} & set(item["taxes"]))] += 1
    assert kept[True] > 1000 and kept[False] == 0


def test_receipts_in_the_break_still_balance(tax_break: BreakRun, known: KnownEntities) -> None:
    """Every other break receipt from a province with a provincial tax, every sixth from the others."""
    provincial = {"QC", "BC", "MB", "SK"}
    chosen = [
        raw
        for n, (raw, doc) in enumerate(zip(tax_break.raw, tax_break.docs, strict=True))
        if local_day(doc) >= BREAK_STARTS and n % (2 if doc["province"] in provincial else 6) == 0
    ]
    assert len(chosen) > 5000
    failed = rejections(chosen, known, tax_table())
    assert failed == [], failed[:5]


# --- inventory and restocks --------------------------------------------------------------------

STOCK_DAYS = (date(2025, 4, 17), date(2025, 4, 18), date(2025, 4, 19), date(2025, 4, 20))
# Thursday; Good Friday (Ontario closed); Saturday, the eve of Easter; Easter Sunday (all closed).


def test_stock_limits_sales_and_restocks_arrive_before_opening(known: KnownEntities) -> None:
    sim = ChainSimulator("stock", 1.0)
    each = np.array([p.unit == "each" for p in sim.products])
    for stock in sim.stock:
        stock.on_hand //= 10  # a tenth of the opening stock: stock-outs every day
        stock.on_hand -= np.where(each, stock.on_hand % 1000, 0)  # in whole units of what is sold each
    store_at = {s.store_id: i for i, s in enumerate(sim.stores)}
    sku_at = {p.sku: i for i, p in enumerate(sim.products)}
    shape = (len(sim.stores), len(sim.products))
    low_at_an_earlier_close = np.zeros(shape, dtype=bool)
    restocks = sold_out = 0
    for day in STOCK_DAYS:
        before = np.stack([s.on_hand for s in sim.stock])
        batch = sim.day(day)
        after = np.stack([s.on_hand for s in sim.stock])
        assert (after >= 0).all(), f"negative stock after {day}"

        delivered = np.zeros(shape, dtype=np.int64)
        for event in batch.restocks:
            doc = orjson.loads(event.value)
            restock = check_restock(doc, known)
            store = stores_by_id()[restock.store_id]
            trading = store_day(store, day, sim.scale)
            at_s = trading.opens_s - 3600 if trading is not None else 6 * 3600
            at = time(at_s // 3600, at_s % 3600 // 60)
            expected = f"{day.isoformat()}T{at.isoformat()}.000{zone_offset_text(store, day, at)}"
            assert doc["occurred_at"] == expected
            for sku, quantity in restock.lines:
                delivered[store_at[restock.store_id], sku_at[sku]] += int(quantity * 1000)
            restocks += 1
        # Deliveries are of SKUs ordered at an earlier day's close (so none on the first day).
        assert (low_at_an_earlier_close | (delivered == 0)).all()

        sold = np.zeros(shape, dtype=np.int64)
        for key, value in zip(batch.keys, batch.values, strict=True):
            row = store_at[key.decode()]
            for item in orjson.loads(value)["items"]:
                sold[row, sku_at[item["sku"]]] += millis(item["quantity"])
        assert (sold <= before + delivered).all(), f"sold more than was on the shelves on {day}"
        assert (before + delivered - sold == after).all(), f"stock does not add up on {day}"
        sold_out += int(((sold > 0) & (after == 0)).sum())

        low_at_an_earlier_close |= after < np.stack([s.reorder_point for s in sim.stock])
    assert restocks >= 50
    assert sold_out > 100  # the limit was reached, not just respected


# --- determinism -------------------------------------------------------------------------------

SHORT = SimulationOptions(seed=11, start=date(2025, 7, 3), days=3, scale=0.03)


def test_same_options_same_bytes_other_seed_other_bytes() -> None:
    first, second = simulate(SHORT), simulate(SHORT)
    assert first == second and len(first[0]) > 5000
    other, _ = simulate(SimulationOptions(seed=12, start=SHORT.start, days=SHORT.days, scale=SHORT.scale))
    assert other != first[0]
    assert not {orjson.loads(b)["transaction_id"] for b in other[:1000]} & {
        orjson.loads(b)["transaction_id"] for b in first[0]
    }


def test_count_cuts_the_stream_without_changing_it() -> None:
    full, _ = simulate(SHORT)
    first_day = sum(b'"occurred_at":"2025-07-03T' in b for b in full)
    for count in (1, 777, first_day, first_day + 1, len(full) - 1):
        head, _ = simulate(
            SimulationOptions(
                seed=SHORT.seed, start=SHORT.start, days=SHORT.days, scale=SHORT.scale, count=count
            )
        )
        assert head == full[:count], count


# --- every receipt of a random store-day balances ----------------------------------------------


def round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def assert_balances(doc: Doc) -> None:
    subtotal = Decimal(0)
    taxable: dict[str, Decimal] = defaultdict(Decimal)
    for item in doc["items"]:
        gross = round_cents(Decimal(item["quantity"]) * Decimal(item["unit_price"]))
        discount, line_total = Decimal(item["discount"]), Decimal(item["line_total"])
        assert 0 <= discount <= gross
        assert line_total == gross - discount
        subtotal += line_total
        for code in item["taxes"]:
            taxable[code] += line_total
    assert Decimal(doc["subtotal"]) == subtotal
    assert {t["code"] for t in doc["taxes"]} == set(taxable)
    tax_total = Decimal(0)
    for tax in doc["taxes"]:
        assert Decimal(tax["taxable_amount"]) == taxable[tax["code"]]
        amount = Decimal(tax["amount"])
        assert amount == round_cents(Decimal(tax["rate"]) * taxable[tax["code"]])
        tax_total += amount
    assert Decimal(doc["tax_total"]) == tax_total
    exact = subtotal + tax_total
    total, rounding = Decimal(doc["total"]), Decimal(doc["rounding"])
    assert rounding == total - exact
    if doc["payment_method"] == "cash":
        assert total % NICKEL == 0 and abs(rounding) <= Decimal("0.02")
    else:
        assert rounding == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    store=st.integers(0, len(stores()) - 1),
    day=st.dates(date(2016, 1, 1), date(2030, 12, 31)),
    seed=st.integers(0, 2**31),
)
def test_every_receipt_of_a_store_day_balances(store: int, day: date, seed: int) -> None:
    shop = stores()[store]
    batch = ChainSimulator(f"{seed}:{day.isoformat()}:0.02", 0.02).day(day)
    bodies = [v for k, v in zip(batch.keys, batch.values, strict=True) if k == shop.store_id.encode()]
    assert bool(bodies) == (store_day(shop, day, 0.02) is not None)
    known, taxes = entities(), tax_table()
    for body in bodies:
        doc = decode(body)
        assert doc["occurred_at"][:10] == day.isoformat()
        assert_balances(doc)
        check(doc, known, taxes)

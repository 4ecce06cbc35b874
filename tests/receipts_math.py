"""Every report recomputed in plain Python from the receipts as they were on the topic.

Independent of the warehouse's SQL: it reads only the JSON messages, the shipped store and
product lists, and the opening stock the test gave the warehouse.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pos_pipeline.reference.catalogue import products, stores

STORES = {s.store_id: s for s in stores()}
PRODUCTS = {p.sku: p for p in products()}
ZERO = Decimal(0)


def q(value: Decimal, places: int) -> Decimal:
    """Round half-up to ``places`` decimals, as PostgreSQL rounds positive numerics."""
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def money(value: Decimal) -> str:
    """Two-decimal string."""
    return str(q(value, 2))


def local_date(receipt: dict[str, Any]) -> date:
    """The store-local date of a receipt or delivery (its timestamp carries the local offset)."""
    return date.fromisoformat(receipt["occurred_at"][:10])


def period(day: date, by: str) -> str:
    """The label ``pos report --by`` gives a day's period."""
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return f"{day.year}-{day.month:02d}"
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year) if by == "year" else "all"


@dataclass(frozen=True)
class Scope:
    """The same selection as ``pos report``'s --from/--to/--province/--store."""

    start: date | None = None
    end: date | None = None
    province: str | None = None
    store: str | None = None

    def store_in(self, store_id: str) -> bool:
        """Whether the scope covers this store."""
        return (self.store is None or store_id == self.store) and (
            self.province is None or STORES[store_id].province == self.province
        )

    def day_in(self, day: date) -> bool:
        """Whether the scope covers this day."""
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def receipts(self, receipts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The receipts in scope."""
        return [r for r in receipts if self.store_in(r["store_id"]) and self.day_in(local_date(r))]


def units_of(line: dict[str, Any]) -> Decimal:
    """Store-level units: a weighed line is one item."""
    return Decimal(1) if PRODUCTS[line["sku"]].unit == "kg" else Decimal(line["quantity"])


def tax_return(receipts: list[dict[str, Any]], scope: Scope, by: str) -> list[dict[str, Any]]:
    """``pos report tax``."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in scope.receipts(receipts):
        key = (period(local_date(r), by), r["province"])
        g = groups.setdefault(
            key, {"n": 0, "sales": ZERO, "zero": ZERO, "rounding": ZERO, "taxes": Counter()}
        )
        g["n"] += 1
        g["sales"] += Decimal(r["subtotal"])
        g["zero"] += sum((Decimal(i["line_total"]) for i in r["items"] if not i["taxes"]), ZERO)
        g["rounding"] += Decimal(r["rounding"])
        for t in r["taxes"]:
            g["taxes"][t["code"]] += Decimal(t["amount"])
    rows = []
    for (p, province), g in sorted(groups.items()):
        taxes = g["taxes"]
        rows.append(
            {
                "period": p,
                "province": province,
                "transactions": g["n"],
                "sales": money(g["sales"]),
                "zero_rated_sales": money(g["zero"]),
                "taxable_sales": money(g["sales"] - g["zero"]),
                "gst_hst_collected": money(taxes["GST"] + taxes["HST"]),
                "provincial_tax_collected": money(taxes["PST"] + taxes["QST"] + taxes["RST"]),
                "rounding": money(g["rounding"]),
                "taxes": {code: money(amount) for code, amount in sorted(taxes.items())},
            }
        )
    return rows


def sales(receipts: list[dict[str, Any]], scope: Scope, by: str) -> list[dict[str, Any]]:
    """``pos report sales``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in scope.receipts(receipts):
        groups[(period(local_date(r), by), r["store_id"])].append(r)
    rows = []
    for (p, store_id), rs in sorted(groups.items()):
        store = STORES[store_id]
        amount = sum((Decimal(r["subtotal"]) for r in rs), ZERO)
        zero = sum((Decimal(i["line_total"]) for r in rs for i in r["items"] if not i["taxes"]), ZERO)
        units = sum((units_of(i) for r in rs for i in r["items"]), ZERO)
        taxes: Counter[str] = Counter()
        for r in rs:
            for t in r["taxes"]:
                taxes[t["code"]] += Decimal(t["amount"])
        members = sum((Decimal(r["subtotal"]) for r in rs if r["customer_id"]), ZERO)
        n = len(rs)
        rows.append(
            {
                "period": p,
                "store_id": store_id,
                "store_name": store.name,
                "province": store.province,
                "transactions": n,
                "item_lines": sum(len(r["items"]) for r in rs),
                "units": int(units),
                "sales": money(amount),
                "zero_rated_sales": money(zero),
                "taxable_sales": money(amount - zero),
                **{code.lower(): money(taxes[code]) for code in ("GST", "HST", "PST", "QST", "RST")},
                "tax_total": money(sum((Decimal(r["tax_total"]) for r in rs), ZERO)),
                "rounding": money(sum((Decimal(r["rounding"]) for r in rs), ZERO)),
                "total": money(sum((Decimal(r["total"]) for r in rs), ZERO)),
                "avg_transaction_value": money(amount / n),
                "units_per_transaction": str(q(units / n, 2)),
                "sales_per_m2": money(amount / store.floor_area_m2),
                "member_share": str(q(members / amount, 4)) if amount else None,
            }
        )
    return rows


def product_sales(receipts: list[dict[str, Any]], scope: Scope, by: str) -> list[dict[str, Any]]:
    """``pos report products``, ranked by sales within category (ties share a rank)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in scope.receipts(receipts):
        p = period(local_date(r), by)
        for i in r["items"]:
            g = groups.setdefault((p, i["sku"]), {"units": ZERO, "lines": 0, "sales": ZERO, "discount": ZERO})
            g["units"] += Decimal(i["quantity"])
            g["lines"] += 1
            g["sales"] += Decimal(i["line_total"])
            g["discount"] += Decimal(i["discount"])
    ranked: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for (p, sku), g in groups.items():
        ranked[(p, PRODUCTS[sku].category)].append((sku, g))
    rows = []
    for (p, category), members in sorted(ranked.items()):
        entries = []
        for sku, g in members:
            rank = 1 + sum(1 for _, other in members if other["sales"] > g["sales"])
            product = PRODUCTS[sku]
            entries.append(
                {
                    "period": p,
                    "sku": sku,
                    "name": product.name,
                    "category": category,
                    "unit": product.unit,
                    "units": str(q(g["units"], 3) if product.unit == "kg" else int(g["units"])),
                    "lines": g["lines"],
                    "sales": money(g["sales"]),
                    "discount": money(g["discount"]),
                    "rank_in_category": rank,
                }
            )
        rows += sorted(entries, key=lambda e: (e["rank_in_category"], e["sku"]))
    return rows


def traffic(receipts: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """``pos report traffic``."""
    groups: dict[tuple[int, int], list[Decimal]] = defaultdict(list)
    for r in scope.receipts(receipts):
        groups[(local_date(r).isoweekday(), int(r["occurred_at"][11:13]))].append(Decimal(r["subtotal"]))
    return [
        {"day_of_week": d, "hour": h, "transactions": len(v), "sales": money(sum(v, ZERO))}
        for (d, h), v in sorted(groups.items())
    ]


def baskets(receipts: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """``pos report baskets``."""
    groups: dict[int, list[Decimal]] = defaultdict(list)
    for r in scope.receipts(receipts):
        groups[len(r["items"])].append(Decimal(r["subtotal"]))
    return [
        {"item_lines": n, "transactions": len(v), "sales": money(sum(v, ZERO))}
        for n, v in sorted(groups.items())
    ]


def basket_values(receipts: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """``pos report basket-values``."""
    groups: dict[int, list[Decimal]] = defaultdict(list)
    for r in scope.receipts(receipts):
        groups[int(Decimal(r["subtotal"]) // 10) * 10].append(Decimal(r["subtotal"]))
    return [
        {"value_from": b, "value_to": b + 10, "transactions": len(v), "sales": money(sum(v, ZERO))}
        for b, v in sorted(groups.items())
    ]


def payments(receipts: list[dict[str, Any]], scope: Scope, by: str) -> list[dict[str, Any]]:
    """``pos report payments``."""
    groups: dict[tuple[str, str, str], list[Decimal]] = defaultdict(list)
    for r in scope.receipts(receipts):
        groups[(period(local_date(r), by), r["province"], r["payment_method"])].append(Decimal(r["total"]))
    rows = []
    for (p, province, method), v in sorted(groups.items()):
        peers = [w for (pp, pr, _), w in groups.items() if (pp, pr) == (p, province)]
        count, value = sum(len(w) for w in peers), sum((sum(w, ZERO) for w in peers), ZERO)
        rows.append(
            {
                "period": p,
                "province": province,
                "payment_method": method,
                "transactions": len(v),
                "value": money(sum(v, ZERO)),
                "count_share": str(q(Decimal(len(v)) / count, 4)),
                "value_share": str(q(sum(v, ZERO) / value, 4)) if value else None,
            }
        )
    return rows


def flyer_week(day: date) -> date:
    """The Thursday that starts the flyer week of ``day``."""
    return day - timedelta(days=(day.isoweekday() + 3) % 7)


def promotions(receipts: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """``pos report promotions``."""
    # The flyer is the chain's: any discounted line of a SKU puts it on the flyer that week.
    flyer = {
        (i["sku"], flyer_week(local_date(r))) for r in receipts for i in r["items"] if Decimal(i["discount"])
    }
    chosen = scope.receipts(receipts)
    trading = {local_date(r) for r in chosen}
    daily: dict[tuple[str, date], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for r in chosen:
        for i in r["items"]:
            cell = daily[(i["sku"], local_date(r))]
            cell[0] += Decimal(i["quantity"])
            cell[1] += Decimal(i["line_total"])
    rows = []
    for sku in sorted({s for s, _ in flyer}):
        on = [d for d in trading if (sku, flyer_week(d)) in flyer]
        off = [d for d in trading if (sku, flyer_week(d)) not in flyer]
        if not on:
            continue
        u_on = sum((daily[(sku, d)][0] for d in on if (sku, d) in daily), ZERO)
        s_on = sum((daily[(sku, d)][1] for d in on if (sku, d) in daily), ZERO)
        u_off = sum((daily[(sku, d)][0] for d in off if (sku, d) in daily), ZERO)
        s_off = sum((daily[(sku, d)][1] for d in off if (sku, d) in daily), ZERO)
        product = PRODUCTS[sku]
        lift = q(u_on * len(off) / (u_off * len(on)), 2) if u_off and off else None
        rows.append(
            {
                "sku": sku,
                "name": product.name,
                "category": product.category,
                "flyer_days": len(on),
                "units_on_flyer": str(q(u_on, 3)),
                "sales_on_flyer": money(s_on),
                "off_flyer_days": len(off),
                "units_off_flyer": str(q(u_off, 3)),
                "sales_off_flyer": money(s_off),
                "units_per_day_on_flyer": str(q(u_on / len(on), 3)),
                "units_per_day_off_flyer": str(q(u_off / len(off), 3)) if off else None,
                "lift": str(lift) if lift is not None else None,
            }
        )
    return sorted(rows, key=lambda r: (r["lift"] is None, -Decimal(r["lift"] or 0), r["sku"]))


@dataclass
class Ledger:
    """Each (store, SKU)'s opening stock and its movements by store-local day."""

    opening: dict[tuple[str, str], Decimal]
    moves: dict[tuple[str, str], Counter[date]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        opening: dict[tuple[str, str], Decimal],
        receipts: list[dict[str, Any]],
        restocks: list[dict[str, Any]],
    ) -> Ledger:
        """The ledger of an opening stock and the receipts and deliveries on the topics."""
        ledger = cls(opening)
        for r in receipts:
            for i in r["items"]:
                ledger.moves.setdefault((r["store_id"], i["sku"]), Counter())[local_date(r)] -= Decimal(
                    i["quantity"]
                )
        for e in restocks:
            for line in e["lines"]:
                ledger.moves.setdefault((e["store_id"], line["sku"]), Counter())[local_date(e)] += Decimal(
                    line["quantity"]
                )
        return ledger

    def on_hand(self, key: tuple[str, str]) -> Decimal:
        """Stock now."""
        return self.opening[key] + sum(self.moves.get(key, Counter()).values(), ZERO)

    def stockout_days(self, key: tuple[str, str]) -> list[date]:
        """Days that closed with nothing on hand after a day (or the opening) that did not."""
        days, balance = [], self.opening[key]
        for day, delta in sorted(self.moves.get(key, Counter()).items()):
            before, balance = balance, balance + delta
            if balance <= 0 < before:
                days.append(day)
        return days


def stock(ledger: Ledger, receipts: list[dict[str, Any]], scope: Scope, as_of: date) -> list[dict[str, Any]]:
    """``pos report stock``: the recent window ends ``as_of``."""
    recent: Counter[tuple[str, str]] = Counter()
    for r in receipts:
        if as_of - timedelta(days=7) < local_date(r) <= as_of:
            for i in r["items"]:
                recent[(r["store_id"], i["sku"])] += Decimal(i["quantity"])
    rows = []
    for key in ledger.opening:
        store_id, sku = key
        if not scope.store_in(store_id):
            continue
        on_hand, sold = ledger.on_hand(key), recent[key]
        product = PRODUCTS[sku]
        rows.append(
            {
                "store_id": store_id,
                "province": STORES[store_id].province,
                "sku": sku,
                "name": product.name,
                "category": product.category,
                "unit": product.unit,
                "on_hand": str(q(on_hand, 3)),
                "units_sold_recently": str(q(sold, 3)),
                "units_per_day": str(q(sold / 7, 3)),
                "days_of_cover": str(q(on_hand * 7 / sold, 1)) if sold else None,
                "out_of_stock": on_hand <= 0,
            }
        )
    return sorted(
        rows,
        key=lambda r: (r["days_of_cover"] is None, Decimal(r["days_of_cover"] or 0), r["store_id"], r["sku"]),
    )


def out_of_stock(ledger: Ledger, scope: Scope) -> list[dict[str, Any]]:
    """``pos report out-of-stock``."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key in ledger.opening:
        if scope.store_in(key[0]):
            counts[key[0]][0] += 1
            counts[key[0]][1] += ledger.on_hand(key) <= 0
    return [
        {
            "store_id": s,
            "store_name": STORES[s].name,
            "province": STORES[s].province,
            "skus": n,
            "skus_out_of_stock": out,
        }
        for s, (n, out) in sorted(counts.items())
    ]


def stockouts(ledger: Ledger, scope: Scope, by: str) -> list[dict[str, Any]]:
    """``pos report stockouts``."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in ledger.opening:
        if scope.store_in(key[0]):
            for day in ledger.stockout_days(key):
                if scope.day_in(day):
                    groups[(period(day, by), key[0])].append(key[1])
    return [
        {
            "period": p,
            "store_id": s,
            "store_name": STORES[s].name,
            "province": STORES[s].province,
            "stockout_events": len(skus),
            "skus": len(set(skus)),
        }
        for (p, s), skus in sorted(groups.items())
    ]

"""The ``analytics`` views that BI tools read, built from the same SQL as ``pos report``.

Views hold no data, so a migration that changes one re-runs :func:`create_views`.
"""

from __future__ import annotations

from pos_pipeline.analytics import queries
from pos_pipeline.analytics.rollups import VALUE_BAND_DOLLARS

_EVERYTHING = "TRUE"
_MONTH = "date_trunc('month', r.local_date)::date"
_QUARTER = "date_trunc('quarter', r.local_date)::date"

VIEWS: dict[str, tuple[str, str]] = {
    # name: (columns renamed, query)
    "daily_store_sales": (
        "local_date",
        queries.SALES.format(period="r.local_date", where=_EVERYTHING),
    ),
    "daily_product_sales": (
        "local_date",
        queries.PRODUCTS.format(period="r.local_date", where=_EVERYTHING),
    ),
    "hourly_traffic": (
        "",
        """SELECT r.local_date, r.store_id, s.province, extract(isodow FROM r.local_date)::int AS day_of_week,
            r.local_hour, r.transactions, r.sales
        FROM analytics.rollup_store_hour r JOIN stores s USING (store_id)""",
    ),
    "basket_sizes": (
        "",
        f"""SELECT r.local_date, r.store_id, s.province, r.item_lines, r.value_band AS value_from,
            r.value_band + {VALUE_BAND_DOLLARS} AS value_to, r.transactions, r.sales
        FROM analytics.rollup_basket_day r JOIN stores s USING (store_id)""",
    ),
    "payment_mix_monthly": ("month", queries.PAYMENTS.format(period=_MONTH, where=_EVERYTHING)),
    "promotion_lift": ("", queries.PROMOTIONS.format(where=_EVERYTHING)),
    "stock_cover": (
        "",
        queries.STOCK.format(
            as_of="(SELECT max(local_date) FROM analytics.rollup_store_day)", where=_EVERYTHING
        ),
    ),
    "stockouts_now": ("", queries.OUT_OF_STOCK.format(where=_EVERYTHING)),
    "stockout_events": ("", queries.STOCKOUT_EVENTS),
    "tax_return_monthly": ("month", queries.TAX_RETURN.format(period=_MONTH, where=_EVERYTHING)),
    "tax_return_quarterly": ("quarter", queries.TAX_RETURN.format(period=_QUARTER, where=_EVERYTHING)),
}


def view_statements() -> list[str]:
    """``CREATE OR REPLACE VIEW`` for every view of the analytics schema."""
    statements = []
    for name, (renamed, query) in VIEWS.items():
        columns = f" ({renamed})" if renamed else ""
        statements.append(f"CREATE OR REPLACE VIEW analytics.{name}{columns} AS {query}")
    return statements


def drop_statements() -> list[str]:
    """``DROP VIEW`` for every view, for a migration's downgrade."""
    return [f"DROP VIEW IF EXISTS analytics.{name}" for name in VIEWS]

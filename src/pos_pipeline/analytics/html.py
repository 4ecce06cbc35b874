"""``pos report all --format html``: one self-contained page of charts and the tax return.

The page must open offline and make no network request, so plotly.js and the styles are inlined
(plotly.js once, in the head) and every figure is drawn from the report rows it is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pos_pipeline.analytics.reports import Report, Selection

# A province keeps its colour in every chart: thirteen picked to stay apart (plotly's palettes
# repeat after ten, or pair near-identical hues).
PROVINCE_COLOURS = {
    "AB": "#4e79a7",
    "BC": "#59a14f",
    "MB": "#edc948",
    "NB": "#b07aa1",
    "NL": "#76b7b2",
    "NS": "#ff9da7",
    "NT": "#9c755f",
    "NU": "#bab0ac",
    "ON": "#e15759",
    "PE": "#222a2a",
    "QC": "#f28e2b",
    "SK": "#b6992d",
    "YT": "#00b4d8",
}
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CONFIG = {"displaylogo": False, "responsive": True}
TOP_PRODUCTS = 15
TOP_PROMOTIONS = 20
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
    "legend": {"orientation": "h", "y": 1.08, "x": 0},
    "font": {"family": "system-ui, Arial, sans-serif", "size": 12},
}
TAX_MONEY = ("sales", "zero_rated_sales", "taxable_sales", "gst_hst_collected", "provincial_tax_collected")

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2933;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header{background:#1f3a5f;color:#fff;padding:20px 32px}
header h1{margin:0 0 6px;font-size:24px;font-weight:600}
header dl{display:flex;flex-wrap:wrap;gap:4px 28px;margin:0;font-size:14px;opacity:.92}
header dt{display:inline;font-weight:600}header dd{display:inline;margin:0 0 0 6px}
main{max-width:1240px;margin:0 auto;padding:20px;display:grid;grid-template-columns:repeat(2,minmax(0,1fr));
gap:20px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:14px 16px;min-width:0}
section.wide{grid-column:1/-1}
section h2{margin:0 0 2px;font-size:17px;font-weight:600}
p.sub{margin:0 0 6px;color:#52606d;font-size:13px}p.note{margin:6px 0 0;color:#8a4b08;font-size:13px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid #e6e8eb;white-space:nowrap}
th{background:#f0f2f5;text-align:left;font-weight:600;white-space:normal;vertical-align:bottom}
td.num,th.num{text-align:right}tbody tr:nth-child(even){background:#fafbfc}
@media (max-width:900px){main{grid-template-columns:1fr}}
"""

Figure = Any  # plotly ships no type hints
Chart = tuple[Figure, str | None]  # a figure and a note to print under it


def _f(value: Any) -> float:
    """A number for plotting only: tables print the exact Decimal."""
    return float(value or 0)


def _label(text: Any) -> str:
    # plotly reads text as pseudo-HTML and decodes entities, so escaping shows it literally.
    return escape(str(text), quote=False)


def _colour(province: str) -> str:
    return PROVINCE_COLOURS.get(province, "#7b8794")


def _money(value: Decimal | int | None) -> str:
    """An amount exactly, as a two-decimal string (Decimal formatting never goes through float)."""
    return f"{Decimal(value or 0):.2f}"


def _layout(fig: Figure, height: int = 420, **extra: Any) -> Figure:
    return fig.update_layout(height=height, **LAYOUT, **extra)


def _by(report: Report) -> str:
    return str(report.selection.by or report.spec.default_by or "period")


Draw = Callable[[dict[str, Report]], Chart]
# Each chart section, in page order: its report's name, heading, subtitle (which may name the
# report's {title} and {by}), how to draw it, and whether it spans the page.
CHARTS: list[tuple[str, str, str, Draw, bool]] = []


def _chart(name: str, heading: str, subtitle: str = "{title}", wide: bool = False) -> Callable[[Draw], Draw]:
    def register(draw: Draw) -> Draw:
        CHARTS.append((name, heading, subtitle, draw, wide))
        return draw

    return register


@_chart("sales", "Sales by province", "Sales before tax per {by}, over each province's stores", True)
def sales_chart(reports: dict[str, Report]) -> Chart:
    """Sales before tax, summed per period and province: one line per province."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in reports["sales"].rows:
        totals[row["province"]][row["period"]] += row["sales"]
    fig = go.Figure()
    for province in sorted(totals):
        periods = sorted(totals[province])
        y = [_f(totals[province][p]) for p in periods]
        fig.add_scatter(
            x=periods, y=y, name=_label(province), mode="lines+markers", line_color=_colour(province)
        )
    fig.update_traces(hovertemplate="%{x}: $%{y:,.2f}")
    return _layout(fig, yaxis_title="sales before tax ($)", xaxis_type="category"), None


@_chart("traffic", "Checkouts by hour of the week")
def traffic_chart(reports: dict[str, Report]) -> Chart:
    """Transactions by store-local hour and ISO day of week."""
    rows = reports["traffic"].rows
    hours = range(min((r["hour"] for r in rows), default=0), max((r["hour"] for r in rows), default=23) + 1)
    z = [[0] * len(hours) for _ in DAYS]
    for row in rows:
        z[row["day_of_week"] - 1][row["hour"] - hours.start] = row["transactions"]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{h:02d}:00" for h in hours],
            y=list(DAYS),
            colorscale="Blues",
            colorbar={"title": {"text": "transactions"}},
            hovertemplate="%{y} %{x}: %{z} transactions<extra></extra>",
        )
    )
    return _layout(fig, height=380, yaxis_autorange="reversed", xaxis_type="category"), None


@_chart("payments", "Payment mix by province", "Share of payment value, over the whole selection")
def payments_chart(reports: dict[str, Report]) -> Chart:
    """Each province's share of payment value by method, over every period, and the chain's."""
    value: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in reports["payments"].rows:
        value[row["province"]][row["payment_method"]] += row["value"]
        value["All"][row["payment_method"]] += row["value"]
    provinces = [p for p in sorted(value) if p != "All"] + (["All"] if value else [])
    methods = sorted({m for by_method in value.values() for m in by_method})
    fig = go.Figure()
    for method in methods:
        shares = [value[p][method] / (sum(value[p].values()) or 1) for p in provinces]
        fig.add_bar(
            x=[_f(s) for s in shares],
            y=[_label(p) for p in provinces],
            name=_label(method),
            orientation="h",
            hovertemplate="%{y}: %{x:.1%}",
        )
    fig = _layout(fig, height=380, barmode="stack", yaxis_autorange="reversed", yaxis_type="category")
    fig.update_layout(legend_traceorder="normal")
    return fig.update_xaxes(tickformat=".0%", range=[0, 1], title="share of payment value"), None


@_chart("products", f"Top {TOP_PRODUCTS} products", "Sales before tax, over the whole selection")
def products_chart(reports: dict[str, Report]) -> Chart:
    """The top products by sales over every period of the selection."""
    sales: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for row in reports["products"].rows:
        sales[row["sku"], row["name"], row["category"]] += row["sales"]
    top = sorted(sales.items(), key=lambda item: (-item[1], item[0]))[:TOP_PRODUCTS]
    fig = go.Figure(
        go.Bar(
            x=[_f(total) for _, total in top],
            y=[_label(f"{name} ({sku})") for (sku, name, _), _ in top],
            customdata=[_label(category) for (_, _, category), _ in top],
            orientation="h",
            marker_color="#2f6db5",
            hovertemplate="%{y}<br>%{customdata}: $%{x:,.2f}<extra></extra>",
        )
    )
    return _layout(fig, height=480, yaxis_autorange="reversed", xaxis_title="sales before tax ($)"), None


@_chart("promotions", f"Promotion lift: top {TOP_PROMOTIONS} SKUs")
def promotions_chart(reports: dict[str, Report]) -> Chart:
    """The SKUs whose units a day rose most on the flyer; 1 means no lift."""
    rows = sorted(
        (r for r in reports["promotions"].rows if r["lift"] is not None), key=lambda r: (-r["lift"], r["sku"])
    )[:TOP_PROMOTIONS]
    fig = go.Figure(
        go.Bar(
            x=[_f(r["lift"]) for r in rows],
            y=[_label(f"{r['name']} ({r['sku']})") for r in rows],
            customdata=[[_f(r["units_per_day_on_flyer"]), _f(r["units_per_day_off_flyer"])] for r in rows],
            orientation="h",
            marker_color="#d9822b",
            hovertemplate="%{y}: lift %{x:.2f}<br>%{customdata[0]:.2f} units a day on the flyer, "
            "%{customdata[1]:.2f} off<extra></extra>",
        )
    )
    fig.add_vline(x=1, line_dash="dot", line_color="#52606d")
    fig = _layout(
        fig, height=560, yaxis_autorange="reversed", xaxis_title="lift (× units a day off the flyer)"
    )
    return fig, None if rows else "No SKU was on the flyer with sales off it in this selection."


@_chart("baskets", "Basket sizes", "Transactions by item lines and by sales before tax", True)
def baskets_chart(reports: dict[str, Report]) -> Chart:
    """Transactions by item lines, and by value band when the basket-values report is given."""
    values = reports.get("basket-values")
    fig = make_subplots(
        rows=1,
        cols=2 if values else 1,
        subplot_titles=("by item lines", "by sales before tax") if values else None,
    )
    lines = reports["baskets"].rows
    fig.add_bar(
        x=[r["item_lines"] for r in lines],
        y=[r["transactions"] for r in lines],
        name="item lines",
        marker_color="#2f6db5",
        hovertemplate="%{x} lines: %{y} transactions<extra></extra>",
        row=1,
        col=1,
    )
    fig.update_xaxes(title_text="item lines", row=1, col=1)
    if values:
        # Bars centred on their $10 bands on a numeric axis, so empty bands show as gaps.
        fig.add_bar(
            x=[r["value_from"] + 5 for r in values.rows],
            y=[r["transactions"] for r in values.rows],
            width=9,
            customdata=[f"${r['value_from']}–{r['value_to']}" for r in values.rows],
            name="value band",
            marker_color="#3d9970",
            hovertemplate="%{customdata}: %{y} transactions<extra></extra>",
            row=1,
            col=2,
        )
        fig.update_xaxes(title_text="sales before tax ($)", tickprefix="$", row=1, col=2)
    fig.update_yaxes(title_text="transactions", row=1, col=1)
    return _layout(fig, height=380, showlegend=False, bargap=0.1), None


@_chart("stockouts", "Stock-out events", "{title}, per {by}", True)
def stockouts_chart(reports: dict[str, Report]) -> Chart:
    """Stock-out events per period by province; a zero series when there were none."""
    rows = reports["stockouts"].rows
    events: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        events[row["province"]][row["period"]] += row["stockout_events"]
    periods = {r["period"] for r in rows}
    sales = reports.get("sales")
    if sales is not None and _by(sales) == _by(reports["stockouts"]):
        periods |= {r["period"] for r in sales.rows}
    x = sorted(periods)
    fig = go.Figure()
    note = None
    if any(n for by_period in events.values() for n in by_period.values()):
        for province in sorted(events):
            y = [events[province][p] for p in x]
            fig.add_bar(x=x, y=y, name=_label(province), marker_color=_colour(province))
    else:
        # Zero-height bars draw nothing, so a marked zero line keeps the chart visibly drawn.
        fig.add_scatter(x=x, y=[0] * len(x), mode="lines+markers", name="stock-out events")
        fig.update_yaxes(range=[0, 1], dtick=1)
        note = "No stock-outs in this selection: every store-day ended with every SKU in stock."
    fig.update_traces(hovertemplate="%{x}: %{y} events")
    fig = _layout(fig, height=360, barmode="stack", xaxis_type="category", yaxis_title="stock-out events")
    return fig.update_yaxes(rangemode="tozero"), note


def tax_table(report: Report) -> str:
    """The tax return as an HTML table, one row per period and province, amounts exact."""
    codes = sorted({code for row in report.rows for code in row["taxes"]})
    heads = ["period", "province", *TAX_MONEY, *codes, "rounding"]
    numeric = set(heads) - {"period", "province"}
    # Headings keep the report's keys but may break after an underscore, so the table fits the page.
    head = "".join(
        f'<th class="{"num" if h in numeric else ""}">{escape(h).replace("_", "_<wbr>")}</th>' for h in heads
    )
    body = []
    for row in report.rows:
        cells = [escape(str(row["period"])), escape(str(row["province"]))]
        cells += [_money(row[name]) for name in TAX_MONEY]
        cells += [_money(row["taxes"].get(code)) for code in codes]
        cells.append(_money(row["rounding"]))
        tds = "".join(f'<td class="{"" if i < 2 else "num"}">{c}</td>' for i, c in enumerate(cells))
        body.append(f"<tr>{tds}</tr>")
    return (
        f'<div class="scroll"><table id="tax-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _section(
    key: str, heading: str, subtitle: str, body: str, wide: bool, css: str = "chart", note: str | None = None
) -> str:
    classes = f"{css} wide" if wide else css
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return (
        f'<section class="{classes}" id="{css}-{escape(key)}"><h2>{escape(heading)}</h2>'
        f'<p class="sub">{escape(subtitle)}</p>{body}{note_html}</section>'
    )


def render_html(reports: dict[str, Report], generated_at: datetime | None = None) -> str:
    """One self-contained HTML page of charts and the tax return, from reports already run."""
    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M %Z")
    # The dated reports share the caller's selection; the sales report carries it whole.
    first = reports.get("sales") or next(iter(reports.values()), None)
    selection = first.selection if first is not None else Selection()
    facts = [
        ("Dates", f"{selection.start or 'first day'} to {selection.end or 'last day'}"),
        ("Province", selection.province or "all"),
        ("Store", selection.store or "all"),
        ("Generated", generated),
    ]
    sections = []
    for name, heading, subtitle, draw, wide in CHARTS:
        if (main := reports.get(name)) is None:
            continue
        fig, note = draw(reports)
        div = pio.to_html(fig, include_plotlyjs=False, full_html=False, config=CONFIG, div_id=f"plot-{name}")
        note = note or (None if main.rows else "Nothing in this selection.")
        subtitle = subtitle.format(title=main.spec.title, by=_by(main))
        sections.append(_section(name, heading, subtitle, str(div), wide, note=note))
    if "tax" in reports:
        tax = reports["tax"]
        note = None if tax.rows else "No sales in this selection."
        subtitle = f"{tax.spec.title}, per {_by(tax)} and province; amounts in dollars"
        sections.append(_section("return", "Sales-tax return", subtitle, tax_table(tax), True, "tax", note))
    header = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pos-pipeline report</title><style>{CSS}</style>"
        f"<script>window.PlotlyConfig={{MathJaxConfig:'local'}};</script><script>{get_plotlyjs()}</script>"
        f"</head><body><header><h1>pos-pipeline report</h1><dl>{header}</dl></header>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )

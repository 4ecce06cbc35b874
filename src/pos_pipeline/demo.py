"""``pos demo``: the whole pipeline on the embedded defaults, with a live view."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import Settings
from pos_pipeline.pipeline import prepare
from pos_pipeline.reference.catalogue import stores
from pos_pipeline.services import start_services, stop_services
from pos_pipeline.simulate.run import KafkaSink, SimulationOptions, SimulationProgress, run_simulation
from pos_pipeline.simulate.schedule import chain_daily_transactions
from pos_pipeline.warehouse.db import connection
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor
from pos_pipeline.warehouse.summary import sales_by_province, table_counts

REFRESH_S = 0.25
DEMO_DAYS = 7


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did."""

    published: int
    loaded: int
    duplicates: int
    dead_letters: int
    seconds: float


class _Worker(threading.Thread):
    """A thread that keeps the exception it died of."""

    def __init__(self, name: str, target: object) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()  # type: ignore[operator]
        except BaseException as exc:
            self.error = exc


def run_demo(settings: Settings, transactions: int, seed: int, start: date, console: Console) -> DemoResult:
    """Start what is needed, simulate and load at once, summarise, stop what was started."""
    console.print("starting services…")
    endpoints = start_services(settings)
    try:
        prepare(settings, endpoints, console)
        result = _simulate_and_load(
            settings,
            endpoints.database_url,
            endpoints.bootstrap_servers,
            transactions,
            seed,
            start,
            console,
        )
        _summary(endpoints.database_url, result, console)
    finally:
        if endpoints.started:
            stopped = stop_services(settings, only=endpoints.started)
            console.print(f"stopped the services this demo started: {', '.join(stopped)}")
    return result


def _simulate_and_load(
    settings: Settings,
    database_url: str,
    bootstrap: str,
    transactions: int,
    seed: int,
    start: date,
    console: Console,
) -> DemoResult:
    progress = SimulationProgress()
    stop = threading.Event()
    # Spread the requested count over about a week of the chain's traffic.
    scale = transactions / (DEMO_DAYS * chain_daily_transactions(stores(), 1.0))
    options = SimulationOptions(seed=seed, count=transactions, start=start, scale=scale)
    sink = KafkaSink(Publisher(bootstrap, settings.kafka), settings.topic, settings.inventory_topic)
    simulator = _Worker("simulator", lambda: run_simulation(options, sink, stop, progress))
    ingestor = Ingestor(
        database_url,
        bootstrap,
        settings.topic,
        settings.dlq_topic,
        settings.kafka,
        IngestOptions(group="pos-demo", poll_timeout_s=0.2),
        inventory_topic=settings.inventory_topic,
    )
    stats = ingestor.stats

    def finished() -> bool:
        # The consumer reads the restock events too: all of both must be in.
        return not simulator.is_alive() and stats.consumed >= progress.transactions + progress.restocks

    loader = _Worker("ingestor", lambda: ingestor.run())
    began = time.monotonic()
    simulator.start()
    loader.start()
    try:
        with Live(console=console, refresh_per_second=8, transient=False) as live:
            while True:
                elapsed = time.monotonic() - began
                live.update(
                    _view(
                        progress.transactions,
                        stats.loaded,
                        stats.duplicates,
                        stats.dead_letters,
                        stats.consumed - stats.restocks,  # receipts read; restocks are not in "published"
                        elapsed,
                    )
                )
                for worker in (simulator, loader):
                    if worker.error is not None:
                        raise worker.error
                if finished() or not loader.is_alive():
                    break
                time.sleep(REFRESH_S)
    finally:
        stop.set()
        ingestor.stop.set()
        simulator.join()
        loader.join()
    for worker in (simulator, loader):
        if worker.error is not None:
            raise worker.error
    return DemoResult(
        progress.transactions, stats.loaded, stats.duplicates, stats.dead_letters, time.monotonic() - began
    )


def _view(published: int, loaded: int, duplicates: int, dead: int, consumed: int, elapsed: float) -> Table:
    table = Table(title="pos demo: simulate → Kafka → PostgreSQL", show_header=True)
    for column in ("published", "loaded", "already loaded", "dead letters", "lag", "rate (tx/s)"):
        table.add_column(column, justify="right")
    rate = consumed / elapsed if elapsed > 0 else 0.0
    table.add_row(
        f"{published:,}",
        f"{loaded:,}",
        f"{duplicates:,}",
        f"{dead:,}",
        f"{max(published - consumed, 0):,}",
        f"{rate:,.0f}",
    )
    return table


def _summary(database_url: str, result: DemoResult, console: Console) -> None:
    with connection(database_url) as conn:
        counts = table_counts(conn)
        provinces = sales_by_province(conn)
    sales = Table(title="Warehouse: sales by province (all loaded transactions)")
    for column in ("province", "transactions", "revenue before tax", "tax collected"):
        sales.add_column(column, justify="right")
    for row in provinces:
        sales.add_row(row.province, f"{row.transactions:,}", f"${row.revenue:,.2f}", f"${row.tax:,.2f}")
    tables = Table(title="Rows per table")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for name, count in counts.items():
        tables.add_row(name, f"{count:,}")
    console.print()
    console.print(Group(sales, tables))
    console.print(
        f"{result.published:,} published, {result.loaded:,} loaded, {result.duplicates:,} already in the "
        f"warehouse, {result.dead_letters:,} dead letters, in {result.seconds:.1f} s",
        highlight=False,
    )
    console.print("Look at the data (the warehouse stays in $POS_HOME; start it again first):")
    console.print(
        '  pos services start\n  eval "$(pos services env)"\n  pos report tax --by month\n'
        "  pos report all --format html --output report.html\n"
        '  psql "$POS_DATABASE_URL"',
        highlight=False,
        markup=False,
    )

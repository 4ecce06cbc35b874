"""What `pos simulate` does before its first receipt: tables made beforehand, nothing it does not need.

The start-up time itself is measured by ``benchmarks/simulator_startup.py`` (BENCHMARKS.md), not here.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pos_cli import pos_env
from pos_pipeline.config import load_settings
from pos_pipeline.home import pos_home
from pos_pipeline.metrics.exposition import DEFAULT_HOST
from pos_pipeline.money import format_cents, format_millis
from pos_pipeline.reference import customers as customers_module
from pos_pipeline.reference.catalogue import products, stores
from pos_pipeline.reference.inventory import opening_stock
from pos_pipeline.simulate import encode, holiday_table
from pos_pipeline.simulate.assortment import PICK_RESOLUTION, Assortment, pick_lookup
from pos_pipeline.simulate.stock import opening_stocks


def test_the_holiday_table_is_the_holidays_package() -> None:
    """After upgrading `holidays`, this may fail: remake the table with
    ``python -m pos_pipeline.simulate.holiday_table > src/pos_pipeline/data/holidays.csv``."""
    shipped = (Path(holiday_table.__file__).parent.parent / "data" / holiday_table.FILE).read_text()
    assert shipped == holiday_table.table_text()
    assert holiday_table.provincial_holidays("ON", 2026) == holiday_table.from_package("ON", 2026)
    assert holiday_table.provincial_holidays("QC", 2071) == holiday_table.from_package("QC", 2071)


def test_opening_stock_per_store_is_the_warehouse_function() -> None:
    for store, stock in zip(stores(), opening_stocks(stores(), products()), strict=True):
        levels = [opening_stock(store, product) for product in products()]
        assert stock.on_hand.tolist() == [s.on_hand_millis for s in levels]
        assert stock.order_up_to.tolist() == [s.on_hand_millis for s in levels]
        assert stock.reorder_point.tolist() == [s.reorder_point_millis for s in levels]


def test_pick_lookup_is_the_search_it_replaces() -> None:
    assortment = Assortment(products())
    rng = np.random.default_rng(11)
    cumulative = [assortment.flyer(d).cumulative for d in (date(2025, 1, 2), date(2026, 7, 9))]
    weights = rng.random(345) ** 3
    weights[rng.integers(0, 345, 9)] = 0
    cumulative.append(np.cumsum(weights / weights.sum()))  # may end just short of 1.0
    edges = np.arange(PICK_RESOLUTION) / PICK_RESOLUTION
    for c in cumulative:
        assert np.array_equal(pick_lookup(c), np.searchsorted(c, edges, side="right"))


@pytest.mark.parametrize("state_flag", [True, False], ids=["--state", "default state file"])
def test_a_jsonl_run_imports_no_kafka_web_database_or_cli_stack(tmp_path: Path, state_flag: bool) -> None:
    state = f"'--state', {str(tmp_path / 's.json')!r}" if state_flag else ""
    code = (
        "import sys\n"
        "from pos_pipeline.cli.main import main\n"
        "sys.argv = ['pos', 'simulate', '--start', '2026-01-05', '--count', '3', '--output', 'jsonl',\n"
        f"            '--quiet', {state}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['confluent_kafka', 'prometheus_client', 'sqlalchemy', 'psycopg', 'starlette', 'faker',\n"
        "         'holidays', 'pydantic_settings', 'pydantic', 'typer', 'rich.live']\n"
        "print([m for m in heavy if m in sys.modules], file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=pos_env(tmp_path), cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr.strip().endswith("[]"), result.stderr
    assert (tmp_path / "s.json").exists() if state_flag else (tmp_path / "state" / "simulator.json").exists()


@pytest.mark.parametrize(
    ("environment", "dotenv"),
    [
        ({}, None),
        ({"POS_HOME": "/srv/pos"}, None),
        ({"pos_home": "lower/case"}, None),
        ({"POS_HOME": ""}, None),
        ({}, "POS_HOME=from/dotenv\nPOS_TOPIC=T\n"),
        ({"POS_HOME": "env/wins"}, "POS_HOME=from/dotenv\n"),
        ({}, "# nothing\nPOS_HOME\nexport POS_HOME='quoted dir'\n"),
    ],
)
def test_pos_home_is_read_as_the_settings_read_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environment: dict[str, str], dotenv: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.upper() == "POS_HOME"]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    assert pos_home() == load_settings().home


def test_the_simulators_metrics_host_default_is_the_exposition_one() -> None:
    from pos_pipeline.cli.simulate_cmd import DEFAULT_METRICS_HOST

    assert DEFAULT_METRICS_HOST == DEFAULT_HOST


def test_the_encoders_tables_are_the_formatting_they_replace() -> None:
    tables = encode._tables()
    assert tables.money == [format_cents(c) for c in range(encode.MONEY_TABLE_SIZE)]
    for table, before, after, size in [
        (tables.subtotal, '],"subtotal":"', '","taxes":[', encode.MONEY_TABLE_SIZE),
        (tables.total, '","total":"', '"}', encode.MONEY_TABLE_SIZE),
        (tables.tax_total, '],"tax_total":"', '"', encode.SMALL_TABLE_SIZE),
        (tables.line_total, "", '","taxes":', encode.SMALL_TABLE_SIZE),
    ]:
        assert table.tolist() == [before + format_cents(c) + after for c in range(size)]
    assert tables.kilograms.tolist() == [format_millis(m) for m in range(encode.MAX_WEIGHED_MILLIS + 1)]
    assert tables.clock[:3] == ["00:00:00", "00:00:01", "00:00:02"] and tables.clock[-1] == "23:59:59"
    assert len(tables.clock) == 86_400
    # Past the tables, the same texts are formatted one by one.
    cents = np.array([0, 999, 10_000, 49_999, 50_000, 123_456, -5])
    assert encode.money_many(cents).tolist() == [format_cents(int(c)) for c in cents]
    framed = encode.framed_many(tables.line_total, "", '","taxes":', cents)
    assert framed.tolist() == [format_cents(int(c)) + '","taxes":' for c in cents]


def test_member_homes_are_the_reference_customers() -> None:
    rng = random.Random(customers_module.REFERENCE_SEED)
    chain = stores()
    homes = rng.choices(chain, weights=[s.floor_area_m2 for s in chain], k=customers_module.CUSTOMER_COUNT)
    assert [(c.customer_id, c.home_store_id) for c in customers_module.customers()] == [
        (f"C{i:07d}", home.store_id) for i, home in enumerate(homes, start=1)
    ]
    assert [chain[i] for i in customers_module.home_store_indices()] == homes

"""A "seed-style" checkout generator: the baseline that pos-pipeline's simulator is compared with.

It is written the way such generators usually are (the original project's
``point_of_sale_simulator.py`` among them): a loop that, for every transaction,
asks Faker (``en_CA``) for an id, a timestamp and a name, picks products with
``random``, prices them in floats, builds a dict and ``json.dumps`` it.

It is honest, not a straw man: Faker is created once, the real catalogue and
stores are read once, there are no sleeps and nothing is recomputed needlessly.
It is also as loose as such scripts are (float money, one combined tax rate on
the whole basket, random timestamps): its output is not contract v1 and is only
meant to be timed.

    python benchmarks/seed_style_baseline.py --count 50000
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sys
import time
from importlib import resources
from pathlib import Path
from typing import IO, Any

from faker import Faker

PAYMENT_METHODS = ["cash", "debit", "credit", "mobile_wallet", "gift_card"]
# Combined sales tax by province in 2025, as such scripts hard-code it.
COMBINED_TAX_RATE = {
    "AB": 0.05,
    "BC": 0.12,
    "MB": 0.12,
    "NB": 0.15,
    "NL": 0.15,
    "NS": 0.14,
    "NT": 0.05,
    "NU": 0.05,
    "ON": 0.13,
    "PE": 0.15,
    "QC": 0.14975,
    "SK": 0.11,
    "YT": 0.05,
}


def _read_data_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("pos_pipeline").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def load_reference() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The real stores and products shipped with pos-pipeline, read once."""
    return _read_data_csv("stores.csv"), _read_data_csv("products.csv")


def transaction(fake: Faker, stores: list[dict[str, str]], products: list[dict[str, str]]) -> dict[str, Any]:
    """One checkout as a dict, seed-style."""
    store = random.choice(stores)
    items = []
    for _ in range(random.randint(1, 20)):
        product = random.choice(products)
        price = float(product["unit_price"])
        if product["unit"] == "kg":
            quantity: float = round(random.uniform(0.15, 2.5), 3)
        else:
            quantity = random.randint(1, 3)
        items.append(
            {
                "sku": product["sku"],
                "name": product["name"],
                "category": product["category"],
                "quantity": quantity,
                "unit_price": price,
                "total": round(price * quantity, 2),
            }
        )
    subtotal = round(sum(item["total"] for item in items), 2)
    tax = round(subtotal * COMBINED_TAX_RATE[store["province"]], 2)
    return {
        "transaction_id": fake.uuid4(),
        "timestamp": fake.date_time_this_year().isoformat(),
        "store_id": store["store_id"],
        "province": store["province"],
        "customer_name": fake.name(),
        "payment_method": random.choice(PAYMENT_METHODS),
        "items": items,
        "subtotal": subtotal,
        "tax": tax,
        "total": round(subtotal + tax, 2),
    }


def generate(n: int, path_or_stream: str | Path | IO[str], seed: int | None = None) -> int:
    """Write ``n`` transactions as JSON lines to a path or a text stream; return ``n``."""
    if isinstance(path_or_stream, str | Path):
        with open(path_or_stream, "w", encoding="utf-8") as stream:
            return generate(n, stream, seed)
    fake = Faker("en_CA")
    if seed is not None:
        random.seed(seed)
        fake.seed_instance(seed)
    stores, products = load_reference()
    for _ in range(n):
        path_or_stream.write(json.dumps(transaction(fake, stores, products)) + "\n")
    path_or_stream.flush()
    return n


def main(argv: list[str] | None = None) -> None:
    """Time the baseline on one CPU and print transactions per second."""
    parser = argparse.ArgumentParser(description="Time the seed-style baseline generator.")
    parser.add_argument("--count", type=int, default=50_000, help="transactions (default 50,000)")
    parser.add_argument("--output", default=os.devnull, help="JSON lines file (default /dev/null)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the first allowed)")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))})
    started = time.perf_counter()
    generate(args.count, args.output, seed=args.seed)
    seconds = time.perf_counter() - started
    rate = args.count / seconds
    print(f"seed-style baseline: {args.count:,} transactions in {seconds:.2f} s = {rate:,.0f} tx/s")


if __name__ == "__main__":
    sys.exit(main())

"""The chain's loyalty members, generated deterministically.

Identities (id and home store) come from a seeded RNG so the simulator can use
them without Faker; names and addresses come from Faker ``en_CA`` with the same
fixed seed when the warehouse loads them, so both always agree.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from pos_pipeline.reference.catalogue import Store, stores

CUSTOMER_COUNT = 10_000
REFERENCE_SEED = 20130204  # the day the Mint stopped distributing pennies
_LDU_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class Customer:
    """A loyalty member and the store they mostly shop at."""

    customer_id: str
    home_store_id: str


@cache
def home_store_indices() -> tuple[int, ...]:
    """Each member's home store, as an index into ``stores()``, weighted by store floor area.

    The simulator needs only these and the ids, not 10,000 ``Customer`` objects (0.01 s before
    the first receipt).
    """
    rng = random.Random(REFERENCE_SEED)
    chain = stores()
    return tuple(rng.choices(range(len(chain)), weights=[s.floor_area_m2 for s in chain], k=CUSTOMER_COUNT))


def customer_ids() -> list[str]:
    """Every member's id, in the order of ``customers()``."""
    return [f"C{i:07d}" for i in range(1, CUSTOMER_COUNT + 1)]


@cache
def customers() -> tuple[Customer, ...]:
    """Every loyalty member, home stores weighted by store floor area."""
    chain = stores()
    return tuple(
        Customer(customer_id, chain[home].store_id)
        for customer_id, home in zip(customer_ids(), home_store_indices(), strict=True)
    )


def _postal_code(rng: random.Random, store: Store) -> str:
    # Same forward sortation area as the home store, so the member lives nearby.
    ldu = f"{rng.randint(0, 9)}{rng.choice(_LDU_LETTERS)}{rng.randint(0, 9)}"
    return f"{store.postal_code[:3]} {ldu}"


def customer_profiles() -> Iterator[dict[str, object]]:
    """Names, contact details and addresses of every member, the same on every call."""
    from faker import Faker  # slow to import, and the simulator needs only the identities above

    fake = Faker("en_CA")
    fake.seed_instance(REFERENCE_SEED)
    rng = random.Random(REFERENCE_SEED + 1)
    by_id = {s.store_id: s for s in stores()}
    first_day = date(2016, 1, 1)
    for member in customers():
        store = by_id[member.home_store_id]
        first, last = fake.first_name(), fake.last_name()
        yield {
            "customer_id": member.customer_id,
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}.{member.customer_id[1:]}@example.ca".lower(),
            "phone": fake.phone_number(),
            "address": fake.street_address(),
            "city": store.city,
            "province": store.province,
            "postal_code": _postal_code(rng, store),
            "home_store_id": store.store_id,
            "loyalty_since": first_day + timedelta(days=rng.randrange(3650)),
        }

"""The contract's product categories and the tax treatment each one has."""

from __future__ import annotations

ZERO_RATED = ("produce", "dairy_eggs", "bakery", "meat_seafood", "pantry", "frozen", "baby_food")
TAXABLE_FOOD = ("snacks", "candy", "soft_drinks", "prepared_food")
NON_FOOD = ("household", "personal_care", "pet_supplies")
CATEGORIES = ZERO_RATED + TAXABLE_FOOD + NON_FOOD


def tax_class(category: str) -> str:
    """Name the GST/HST treatment of a category: basic grocery, taxable food or non-food."""
    if category in ZERO_RATED:
        return "zero_rated_basic_grocery"
    if category in TAXABLE_FOOD:
        return "taxable_food"
    if category in NON_FOOD:
        return "non_food"
    raise ValueError(f"unknown category {category!r}")

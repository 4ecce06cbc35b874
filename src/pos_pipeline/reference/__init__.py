"""Reference data shipped with the package: stores, products, taxes, customers, calendar."""

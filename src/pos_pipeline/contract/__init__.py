"""The ``PointOfSale`` topic's contract: its JSON Schema, how receipts are built and checked."""

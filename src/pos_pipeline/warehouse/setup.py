"""``pos db init``: migrate to head and load the reference data, idempotently."""

from __future__ import annotations

from pos_pipeline.warehouse.db import connection
from pos_pipeline.warehouse.migrate import upgrade
from pos_pipeline.warehouse.reference_load import load_reference_data


def init_warehouse(libpq_url: str) -> dict[str, int]:
    """Bring the schema to head and merge the reference data; return rows written per table."""
    upgrade(libpq_url)
    with connection(libpq_url) as conn:
        written = load_reference_data(conn)
        conn.commit()
    return written

"""a BRIN index on transactions.ingested_at, for the live dashboard

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:40:00

The dashboard asks "what was loaded in the last minute" every second (freshness, loaded per second).
Rows are inserted in ingested_at order, so a BRIN index answers that by reading only the table's
tail, and costs the loader next to nothing: a few pages for millions of rows, and no per-row entry.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_transactions_ingested_at_brin ON transactions USING brin (ingested_at) "
        "WITH (pages_per_range = 32, autosummarize = on)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_transactions_ingested_at_brin")

"""Alembic environment: runs on the connection that :mod:`pos_pipeline.warehouse.migrate` hands in."""

from alembic import context

from pos_pipeline.analytics import tables  # noqa: F401  (registers the analytics schema's tables)
from pos_pipeline.warehouse.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    include_schemas=True,
    include_name=lambda name, kind, _parent: kind != "schema" or name in (None, "public", "analytics"),
)
with context.begin_transaction():
    context.run_migrations()

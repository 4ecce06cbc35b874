"""The PostgreSQL warehouse: schema, migrations, reference data, loading, dump and restore."""

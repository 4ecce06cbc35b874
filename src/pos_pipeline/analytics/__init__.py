"""The analytics layer: rollups the loader keeps exact, views for BI tools, and ``pos report``."""

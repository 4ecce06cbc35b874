"""pos-pipeline: a simulated Canadian grocery chain, streamed through Kafka into PostgreSQL."""

__version__ = "0.1.0"

__all__ = ["__version__"]

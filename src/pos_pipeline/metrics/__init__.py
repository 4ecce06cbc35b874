"""Prometheus metrics of the simulator and the consumer, each in a registry of its own process."""

#: The address a metrics endpoint binds to unless told otherwise. Defined here, not in
#: ``exposition``, so that a command's defaults can name it without importing prometheus_client.
DEFAULT_HOST = "127.0.0.1"

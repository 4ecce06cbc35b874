"""Prometheus metrics of the simulator and the consumer, each in a registry of its own process."""

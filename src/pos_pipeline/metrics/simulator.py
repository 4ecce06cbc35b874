"""What ``pos simulate`` exposes: receipts made, delivery failures, and where the simulated clock is."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from pos_pipeline.metrics.exposition import build_info


class SimulatorMetrics:
    """The simulator's series, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        build_info(self.registry)
        self.transactions = Counter(
            "pos_simulator_transactions",
            "Checkout transactions generated and handed to the output (for Kafka: queued for delivery).",
            registry=self.registry,
        )
        self.restocks = Counter(
            "pos_simulator_restocks",
            "Restock events generated and handed to the output.",
            registry=self.registry,
        )
        self.publish_errors = Counter(
            "pos_simulator_publish_errors",
            "Messages the broker did not acknowledge (delivery reports with an error).",
            registry=self.registry,
        )
        self.clock = Gauge(
            "pos_simulator_clock_timestamp_seconds",
            "The simulated clock: the instant of the latest event emitted, in Unix seconds.",
            registry=self.registry,
        )

    def emitted(self, transactions: int, restocks: int, last_utc_ms: int | None) -> None:
        """Count what was just handed to the output and move the clock to its last event."""
        if transactions:
            self.transactions.inc(transactions)
        if restocks:
            self.restocks.inc(restocks)
        if last_utc_ms is not None:
            self.clock.set(last_utc_ms / 1000)

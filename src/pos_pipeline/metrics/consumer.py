"""What ``pos consume`` exposes: outcomes per topic, dead letters per reason, lag, stage timings and
end-to-end latency. Labels come from small fixed sets (topics, partitions, outcomes, stages and the
validator's error classes), never from ids.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pos_pipeline.contract.validate import ERROR_CLASSES
from pos_pipeline.metrics.exposition import build_info

LOADED = "loaded"
DUPLICATE = "duplicate"
DEAD_LETTER = "dead_letter"
OUTCOMES = (LOADED, DUPLICATE, DEAD_LETTER)
#: The stages of a batch, in order (see pos_pipeline.warehouse.ingest).
STAGES = ("decode", "validate", "load", "commit", "dead_letter", "offsets")

# Freshness is judged in tens of milliseconds when the stream is live and in minutes while a backlog
# drains: buckets from 5 ms to 10 min cover both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 120, 300, 600)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ConsumerMetrics:
    """The consumer's series, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        build_info(self.registry)
        self.messages = Counter(
            "pos_consumer_messages",
            "Messages read, by topic and outcome (loaded, duplicate: a replay skipped, dead_letter).",
            ["topic", "outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "pos_consumer_dead_letters",
            "Messages sent to the dead-letter topic, by error class.",
            ["reason"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "pos_consumer_lag_messages",
            "Messages on each assigned partition not yet loaded (high watermark − position).",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.stage = Histogram(
            "pos_consumer_batch_duration_seconds",
            "Time each batch spent in each stage.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "pos_consumer_end_to_end_latency_seconds",
            "From the broker's timestamp of a transaction to the database commit that loaded it.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.last_commit = Gauge(
            "pos_consumer_last_commit_timestamp_seconds",
            "When offsets were last committed after a database commit, in Unix seconds.",
            registry=self.registry,
        )
        self.rebalances = Counter(
            "pos_consumer_rebalances",
            "Partition assignments received from the group (the first one included).",
            registry=self.registry,
        )
        self.database_retries = Counter(
            "pos_consumer_database_retries",
            "Batches retried because PostgreSQL was unavailable.",
            registry=self.registry,
        )
        # Every outcome and stage exists from the start, so rate() and absent() behave from the first scrape.
        for stage in STAGES:
            self.stage.labels(stage=stage)
        for reason in ERROR_CLASSES:
            self.dead_letters.labels(reason=reason)

    def topics(self, names: Iterable[str]) -> None:
        """Create the zero series of every (topic, outcome)."""
        for name in names:
            for outcome in OUTCOMES:
                self.messages.labels(topic=name, outcome=outcome)

    def set_lag(self, lags: dict[tuple[str, int], int]) -> None:
        """Publish the lag of the partitions assigned now; forget those no longer assigned."""
        self.lag.clear()
        for (topic, partition), behind in lags.items():
            self.lag.labels(topic=topic, partition=str(partition)).set(behind)

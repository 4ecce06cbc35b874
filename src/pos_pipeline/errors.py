"""The project's exception tree.

PosError                 root: the CLI prints ``message`` and exits 1
├── ConfigError          a bad setting or flag value
├── ServiceError         an embedded service failed to start, stop or answer
├── BrokerError          the Kafka cluster is unreachable or refused a request
├── DatabaseError        PostgreSQL is unreachable or refused a request
└── DeliveryError        some messages were not acknowledged by the broker
"""


class PosError(Exception):
    """Root of every error the project reports to a user as one line."""


class ConfigError(PosError):
    """A configuration value or command-line flag is invalid."""


class ServiceError(PosError):
    """An embedded service could not be started, stopped or reached."""


class BrokerError(PosError):
    """The Kafka-protocol broker is unreachable or rejected a request."""


class DatabaseError(PosError):
    """PostgreSQL is unreachable or rejected a request."""


class DeliveryError(PosError):
    """The broker did not acknowledge every published message."""

    def __init__(self, failed: int, total: int, first_reason: str) -> None:
        super().__init__(f"{failed} of {total} messages were not delivered (first error: {first_reason})")
        self.failed = failed
        self.total = total

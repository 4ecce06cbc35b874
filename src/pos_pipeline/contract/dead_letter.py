"""What the loader writes to the dead-letter topic for a message it cannot load.

The value is the original bytes and the key the original key, so a fixed message can be
re-sent as it is; the headers say why it was rejected and where it came from. The loader
builds every dead letter here, and ``pos schema --asyncapi`` describes these headers, so the
two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from pos_pipeline.contract.validate import MAX_MESSAGE_BYTES, Rejection

ERROR_CLASS = "error_class"
REASON = "reason"
SOURCE_TOPIC = "source_topic"
SOURCE_PARTITION = "source_partition"
SOURCE_OFFSET = "source_offset"
TRUNCATED_FROM_BYTES = "truncated_from_bytes"

#: The headers of every dead letter, in the order they are written.
ALWAYS = (ERROR_CLASS, REASON, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET)
#: Every header a dead letter can carry: ``truncated_from_bytes`` only on a value that was cut.
HEADERS = (*ALWAYS, TRUNCATED_FROM_BYTES)

Headers = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message for the dead-letter topic."""

    key: bytes | None
    value: bytes
    headers: Headers


def dead_letter(
    key: bytes | None,
    value: bytes | None,
    topic: str,
    partition: int | None,
    offset: int | None,
    rejection: Rejection,
) -> DeadLetter:
    """The dead letter of a rejected message: its key and bytes, headed by the rejection and the source."""
    body = value or b""
    headers: Headers = [
        (ERROR_CLASS, rejection.error_class.encode()),
        (REASON, rejection.reason.encode("utf-8", "replace")),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
    ]
    if len(body) > MAX_MESSAGE_BYTES:
        # Kept whole it might exceed the cluster's message limit; the source offset finds it.
        headers.append((TRUNCATED_FROM_BYTES, str(len(body)).encode()))
        body = body[:MAX_MESSAGE_BYTES]
    return DeadLetter(key, body, headers)

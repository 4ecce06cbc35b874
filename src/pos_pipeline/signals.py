"""SIGINT and SIGTERM as a request to finish cleanly, for commands that run until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM, so the work in hand finishes and the command exits 0."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)

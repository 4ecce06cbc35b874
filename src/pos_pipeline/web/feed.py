"""The dashboard's one collector: the warehouse every second, the broker every two, whatever the
number of browsers; each source that fails is reported as down and retried, the last data kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from pos_pipeline.broker.dead_letters import DeadLetterTally
from pos_pipeline.broker.lag import GroupLag
from pos_pipeline.errors import PosError
from pos_pipeline.warehouse.db import connect, first_line
from pos_pipeline.web.warehouse_feed import generated_at, read_warehouse

log = logging.getLogger(__name__)

DATABASE_EVERY_S = 1.0
BROKER_EVERY_S = 2.0
BROKER_TIMEOUT_S = 2.0
# A statement that runs longer is cancelled: the page would rather say "slow" than hang.
STATEMENT_TIMEOUT_MS = 5000


def _empty() -> dict[str, Any]:
    return {
        "generated_at": generated_at(),
        "status": {
            "database": {"ok": False, "error": "connecting…"},
            "broker": {"ok": False, "error": "connecting…"},
        },
        "clock": {"at": None, "today": None, "week_before": None},
        "pipeline": {
            "transactions": 0,
            "per_second": 0.0,
            "lag": None,
            "freshness_p50_s": None,
            "freshness_p99_s": None,
            "dead_letters": {},
            "dead_letters_total": None,
        },
        "sales_by_province": [],
        "hourly": {"hours": list(range(24)), "today": ["0.00"] * 24, "week_before": ["0.00"] * 24},
        "top_products": [],
        "receipts": [],
        "low_stock": {"below_reorder": 0, "out_of_stock": 0, "items": []},
    }


class Feed:
    """The latest snapshot, and a way to wait for the next one."""

    def __init__(
        self,
        database_url: str,
        bootstrap: str,
        overrides: Mapping[str, str],
        group: str,
        topics: list[str],
        dlq_topic: str,
    ) -> None:
        self.group = group
        self.snapshot = _empty()
        self.snapshot["group"] = group
        self.version = 0
        self._database_url = database_url
        self._bootstrap = bootstrap
        self._overrides = dict(overrides)
        self._topics = topics
        self._dlq_topic = dlq_topic
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lag: GroupLag | None = None
        self._tally: DeadLetterTally | None = None
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Begin collecting in the background."""
        self._tasks = [
            asyncio.create_task(self._every(DATABASE_EVERY_S, self._read_database)),
            asyncio.create_task(self._every(BROKER_EVERY_S, self._read_broker)),
        ]

    async def stop(self) -> None:
        """Stop collecting and release the connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self._close)

    async def next_after(self, version: int, timeout_s: float) -> int:
        """Wait until a snapshot newer than ``version`` exists (or the timeout); return the newest version."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version > version), timeout_s)
        return self.version

    async def _every(self, interval: float, read: Callable[[], dict[str, Any]]) -> None:
        while True:
            update = await asyncio.to_thread(read)
            async with self._changed:
                old = self.snapshot
                self.snapshot = {
                    **old,
                    **update,
                    "generated_at": generated_at(),
                    "status": {**old["status"], **update.get("status", {})},
                    "pipeline": {**old["pipeline"], **update.get("pipeline", {})},
                }
                self.version += 1
                self._changed.notify_all()
            await asyncio.sleep(interval)

    def _read_database(self) -> dict[str, Any]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self._database_url)
                self._conn.read_only = True
                self._conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
                self._conn.commit()  # SET is transactional: keep it past the snapshots' rollbacks
            found = read_warehouse(self._conn)
        except (psycopg.Error, PosError) as exc:
            self._drop_connection()
            log.warning("warehouse unavailable: %s", first_line(exc))
            return {"status": {"database": {"ok": False, "error": first_line(exc)}}}
        pipeline = {
            k: found.pop(k) for k in ("transactions", "per_second", "freshness_p50_s", "freshness_p99_s")
        }
        return {**found, "pipeline": pipeline, "status": {"database": {"ok": True, "error": None}}}

    def _read_broker(self) -> dict[str, Any]:
        try:
            if self._lag is None:
                self._lag = GroupLag(self._bootstrap, self._overrides, self.group, BROKER_TIMEOUT_S)
            if self._tally is None:
                self._tally = DeadLetterTally(
                    self._bootstrap, self._overrides, self._dlq_topic, BROKER_TIMEOUT_S
                )
            lag = sum(self._lag.read(self._topics).values())
            letters = dict(self._tally.catch_up())
        except PosError as exc:
            log.warning("broker unavailable: %s", first_line(exc))
            return {"status": {"broker": {"ok": False, "error": first_line(exc)}}, "pipeline": {"lag": None}}
        return {
            "status": {"broker": {"ok": True, "error": None}},
            "pipeline": {"lag": lag, "dead_letters": letters, "dead_letters_total": sum(letters.values())},
        }

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def _close(self) -> None:
        self._drop_connection()
        for client in (self._lag, self._tally):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()

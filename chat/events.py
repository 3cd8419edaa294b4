"""Counts of what no stored row records, per tenant and hour: refused messages by error code,
blocked topics, PII redactions. They are the analytics' error and safety figures
(``chat.analytics``) and the alert rules'.

Counted in process and written every ``FLUSH_S`` (one upsert per tenant, hour and name), not
once per event: a flood of refused messages is not a flood of writes. A process that stops
loses at most its last ``FLUSH_S`` of counts (the drain flushes them).
"""

import asyncio
import threading
import weakref
from collections import Counter
from datetime import UTC, datetime

import structlog
from django.db import connection, transaction
from django.utils import timezone

from chat.models import TenantEventCount
from infra.db import DATABASE_DOWN, in_db_thread
from tenants.models import Tenant

log = structlog.stdlib.get_logger(__name__)

FLUSH_S = 10.0
BLOCKED_TOPIC = "blocked_topic"
PII_REDACTED = "pii_redacted"
REFUSED = "refused:"  # + the error code

_TABLE = TenantEventCount._meta.db_table
_UPSERT = (
    f"INSERT INTO {_TABLE} (tenant_id, hour, name, count) VALUES (%s, %s, %s, %s) "  # noqa: S608
    f"ON CONFLICT (tenant_id, hour, name) DO UPDATE SET count = {_TABLE}.count + excluded.count"
)


def hour_start(moment: datetime) -> datetime:
    """The hour (UTC) ``moment`` falls in: what events and hourly figures are counted by."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class EventCounts:
    def __init__(self) -> None:
        self._counts: Counter[tuple[int, datetime, str]] = Counter()
        self._lock = threading.Lock()
        # One flushing task per event loop (tests run several loops in one process).
        self._flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary()
        )

    def add(self, tenant_id: int, name: str, n: int = 1) -> None:
        if n <= 0:
            return
        hour = hour_start(timezone.now())
        with self._lock:
            self._counts[(tenant_id, hour, name)] += n

    def flush(self) -> int:
        """Write the counts (a database thread); returns how many rows were upserted. Counts
        that could not be written are kept for the next flush."""
        with self._lock:
            pending, self._counts = self._counts, Counter()
        if not pending:
            return 0
        try:
            # A tenant deleted since its events were counted takes its counts with it.
            alive = set(Tenant.objects.filter(pk__in={t for t, _, _ in pending}).values_list("pk", flat=True))
            rows = [(t, hour, name, n) for (t, hour, name), n in pending.items() if t in alive]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(_UPSERT, rows)
        except DATABASE_DOWN:
            with self._lock:
                self._counts.update(pending)
            raise
        return len(rows)

    def start_flushing(self) -> None:
        """Flush every ``FLUSH_S`` on this event loop (once per loop)."""
        loop = asyncio.get_running_loop()
        if loop not in self._flushers:
            self._flushers[loop] = loop.create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await in_db_thread(self.flush)()
            except DATABASE_DOWN as exc:
                log.warning("events.flush_deferred", error=repr(exc))
            except Exception:  # the flusher must outlive a bad batch (its counts are dropped)
                log.exception("events.flush_failed")


_events = EventCounts()


def get_event_counts() -> EventCounts:
    return _events

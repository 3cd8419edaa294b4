"""Graceful drain of this process's chat connections (SIGTERM, see ``chatplatform.server``).

The server stops listening first, so new connections go to another instance. Then every open
socket of this process is drained at once: an idle one is closed with 1012 (Service Restart:
clients reconnect, to another instance behind the load balancer); one with an answer streaming
is let finish, up to the drain timeout, and closed after its ``done``. An answer still streaming
at the timeout is cancelled, which records it like any cancelled answer: the partial text and its
usage are kept.
"""

import asyncio
from typing import Protocol

import structlog

from chat.events import get_event_counts
from chat.history.background_queue import background_sent
from chat.turns.generations import generation_registry
from infra.db import DATABASE_DOWN, in_db_thread

log = structlog.stdlib.get_logger(__name__)


class Drainable(Protocol):
    async def drain(self, grace_s: float) -> None: ...


_open: set[Drainable] = set()
_draining = False


def register(connection: Drainable) -> None:
    _open.add(connection)


def unregister(connection: Drainable) -> None:
    _open.discard(connection)


def is_draining() -> bool:
    return _draining


async def drain(grace_s: float) -> None:
    """Drain every open connection; returns when all are closed (at most ``grace_s`` plus the
    time to record the answers cancelled at the deadline)."""
    global _draining
    _draining = True
    connections = list(_open)
    log.info("drain.started", connections=len(connections), grace_s=grace_s)
    results = await asyncio.gather(
        *(c.drain(grace_s) for c in connections),
        generation_registry().drain(grace_s),  # answers no socket follows any more
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            log.error("drain.connection_failed", error=repr(result))
    # The background work the last answers queued is sent before the loop stops: in the embedded
    # default the task runs in that thread and reaches back into this loop (a stopped loop would
    # hold the process until it is killed).
    if not await asyncio.to_thread(background_sent, grace_s):
        log.warning("drain.background_unsent")
    try:
        await in_db_thread(get_event_counts().flush)()
    except DATABASE_DOWN as exc:
        log.warning("drain.events_lost", error=repr(exc))
    log.info("drain.finished", connections=len(connections))

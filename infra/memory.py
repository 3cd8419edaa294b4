"""Memory given back to the system after a wave of closed sockets.

Two things kept a Daphne process ~40 MB (+24 %) above its baseline for good after 1,000 sockets
had closed (``bench/soak.py``):

- A closed socket leaves reference cycles (Twisted's transport and protocol, Daphne's request,
  the consumer and its timers) that only Python's cyclic collector frees, ~95 objects each, and
  the collector runs when objects are allocated: an instance that goes quiet after a burst keeps
  them until the next burst.
- Freed memory goes back to the system only in whole units. Python's small-object allocator
  returns a 1 MiB arena only when every object in it is free, and a few hundred objects that
  outlive the burst (a pooled Redis connection, a compiled query) keep most of the burst's
  arenas: once the garbage was collected, 27 MB of empty pools stayed resident in them. The run
  command (``scripts/run.sh``) therefore starts Daphne with ``PYTHONMALLOC=malloc``: jemalloc
  (where installed, with its background thread purging free pages) or glibc's allocator holds
  Python's objects; glibc's hands its free pages back when trimmed (``malloc_trim``).

So once enough sockets have closed and none has closed for a little while (the wave is over),
the instance collects its garbage and trims the C heap, on its event loop: a full collection
walks only what was created after start-up (``freeze_startup_objects``).
"""

import asyncio
import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable

import structlog
from django.conf import settings

from infra import aio, metrics

log = structlog.stdlib.get_logger(__name__)


def freeze_startup_objects() -> None:
    """What exists once the application is loaded (modules, Django's registries, the URL
    resolver) lives as long as the process: out of the collector's sight, a collection is cheaper."""
    gc.collect()
    gc.freeze()


def _malloc_trim() -> Callable[[], None] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


def release() -> int:
    """Collect the garbage and return the C heap's free pages; how many objects were freed."""
    freed = gc.collect()
    if _TRIM is not None:
        _TRIM()
    return freed


class Releaser:
    """Counts closed sockets; after ``MEMORY_RELEASE_AFTER_CLOSED`` of them, releases memory
    once none has closed for ``MEMORY_RELEASE_QUIET_S`` (or after ``MEMORY_RELEASE_MAX_WAIT_S``,
    when sockets keep closing)."""

    def __init__(self) -> None:
        self._closed = 0
        self._last_closed_at = 0.0
        self._waiting: asyncio.Task[None] | None = None

    def socket_closed(self) -> None:
        self._closed += 1
        self._last_closed_at = time.monotonic()
        if self._closed >= settings.MEMORY_RELEASE_AFTER_CLOSED and (
            self._waiting is None or self._waiting.done()
        ):
            self._waiting = asyncio.get_running_loop().create_task(self._release_when_quiet())

    async def _release_when_quiet(self) -> None:
        deadline = time.monotonic() + settings.MEMORY_RELEASE_MAX_WAIT_S
        while (now := time.monotonic()) < deadline:
            quiet_for = now - self._last_closed_at
            if quiet_for >= settings.MEMORY_RELEASE_QUIET_S:
                break
            await aio.sleep(settings.MEMORY_RELEASE_QUIET_S - quiet_for)
        closed, self._closed = self._closed, 0
        began = time.perf_counter()
        freed = release()
        took_ms = round((time.perf_counter() - began) * 1000, 1)
        metrics.MEMORY_RELEASES.inc()
        log.info("memory.released", sockets_closed=closed, objects_freed=freed, took_ms=took_ms)


# The running event loop's (one per process under Daphne).
releaser = aio.per_loop(Releaser)

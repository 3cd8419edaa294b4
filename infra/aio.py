"""What the long-lived background loops (lease renewers, reapers, the outbox) share, and work
started ahead of need."""

import asyncio
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_ahead: set[asyncio.Task[Any]] = set()  # referenced until done (the loop holds tasks weakly)


def ahead(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start ``work`` now so that its round trip overlaps the caller's, for a result the caller
    may then not need (a refused message): awaited, it gives the result or raises; left alone,
    it runs to its end and its error is dropped. Not cancelled: a cancel landing inside redis-py
    breaks the pooled connection."""
    task = asyncio.ensure_future(work)
    _ahead.add(task)
    task.add_done_callback(_settled)
    return task


def _settled(task: asyncio.Task[Any]) -> None:
    _ahead.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned task's error is not logged as never retrieved


async def sleep(seconds: float) -> None:
    """``asyncio.sleep`` for a loop that calls redis-py and outlives errors: first it raises
    ``CancelledError`` if the task was cancelled during an earlier await, even when that cancel
    was swallowed. A cancel that lands inside redis-py can come out as a connection error, or
    vanish (it retries the connection the cancel broke and returns the reply), and an event
    loop's shutdown then waits on the loop for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    await asyncio.sleep(seconds)


def per_loop(factory: Callable[[], T]) -> Callable[[], T]:
    """A getter of one ``factory()`` per running event loop (one per process under Daphne; one
    per test, whose loop is new), forgotten with its loop."""
    instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get() -> T:
        loop = asyncio.get_running_loop()
        found = instances.get(loop)
        if found is None:
            found = instances[loop] = factory()
        return found

    return get

"""What the long-lived background loops (lease renewers, reapers, the outbox) share."""

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


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

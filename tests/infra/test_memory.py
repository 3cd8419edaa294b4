"""Memory given back after a wave of closed sockets (``infra.memory``): the garbage their
reference cycles left is collected though nothing else runs to trigger the collector."""

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra import memory, metrics


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No collection but the releaser's (an idle instance allocates nothing to trigger one)."""
    gc.disable()
    yield
    gc.enable()


def releases() -> float:
    return metrics.MEMORY_RELEASES._value.get()


async def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return bool(check())


async def test_a_wave_of_closes_frees_their_cycles_once_over(collector_off: None, settings: Any) -> None:
    settings.MEMORY_RELEASE_AFTER_CLOSED = 3
    settings.MEMORY_RELEASE_QUIET_S = 0.2
    releaser = memory.Releaser()
    garbage = Node()
    freed = weakref.ref(garbage)
    del garbage
    before = releases()

    releaser.socket_closed()
    releaser.socket_closed()
    await asyncio.sleep(0.3)  # two closes, quiet since: below the threshold, nothing is collected
    assert freed() is not None and releases() == before
    releaser.socket_closed()  # the third: released once the closes stop
    assert await wait_until(lambda: releases() == before + 1)
    assert freed() is None


async def test_sockets_that_keep_closing_do_not_put_it_off(collector_off: None, settings: Any) -> None:
    settings.MEMORY_RELEASE_AFTER_CLOSED = 1
    settings.MEMORY_RELEASE_QUIET_S = 10.0
    settings.MEMORY_RELEASE_MAX_WAIT_S = 0.5
    releaser = memory.Releaser()
    before = releases()
    releaser.socket_closed()

    async def keep_closing() -> None:
        while True:
            releaser.socket_closed()
            await asyncio.sleep(0.05)

    closing = asyncio.ensure_future(keep_closing())
    try:
        assert await wait_until(lambda: releases() > before)
    finally:
        closing.cancel()

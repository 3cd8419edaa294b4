"""``/healthz``: the process answers. ``/readyz``: what it needs is reachable, with timings, and
how far each PostgreSQL replica lags (``infra.replicas``).

Cheap enough to poll every second: one ``SELECT 1`` on a pooled connection, one Redis ``PING``,
one message through the channel layer to this process itself, each under a short timeout.
"""

import asyncio
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from chat import drain
from chat.history.outbox import get_outbox
from infra.db import in_db_thread
from infra.embedder import embedder, embedder_installed
from infra.redis_topology import async_client
from infra.replicas import replica_aliases, replica_status

_TIMEOUT_S = 2.0


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _redis() -> None:
    client = async_client(socket_timeout=_TIMEOUT_S, socket_connect_timeout=_TIMEOUT_S)
    try:
        await client.ping()
    finally:
        await client.aclose()


# One probe channel per event loop, kept: with the Redis pub/sub layer each new channel is a
# subscription that is only dropped when a consumer exits, so a channel per probe would leak.
_probe_channels: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, str]" = weakref.WeakKeyDictionary()


async def _channel_layer() -> None:
    layer = get_channel_layer()
    assert layer is not None
    loop = asyncio.get_running_loop()
    channel = _probe_channels.get(loop)
    if channel is None:
        channel = _probe_channels[loop] = await layer.new_channel("readyz.")
    marker = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz", "marker": marker})
    received = await layer.receive(channel)
    if received.get("marker") != marker:
        raise RuntimeError("the channel layer returned another message")


async def _timed(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            await check()
    except Exception as exc:  # a readiness probe reports every failure, whatever it is
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200], "ms": _ms(started)}
    return {"ok": True, "ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def _outbox_turns() -> int | None:
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            return await get_outbox().pending()
    except Exception:  # Redis down: the redis check says so
        return None


def _replicas() -> list[dict[str, Any]]:
    return [
        {"alias": s.alias, "usable": s.usable, "lag_s": s.lag_s, "error": s.error}
        for s in (replica_status(alias) for alias in replica_aliases())
    ]


async def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "database": in_db_thread(_database),
        "channel_layer": _channel_layer,
    }
    if settings.REDIS_URL:
        checks["redis"] = _redis
    results = dict(zip(checks, await asyncio.gather(*(_timed(c) for c in checks.values())), strict=True))
    # A draining instance (SIGTERM) is alive but must get no new traffic.
    ready = all(result["ok"] for result in results.values()) and not drain.is_draining()
    body = {
        "ready": ready,
        "draining": drain.is_draining(),
        "checks": results,
        # Turns waiting for the database to be back (chat.history.outbox); None: unknown.
        "outbox_turns": await _outbox_turns(),
        # Not a condition of readiness: until it is loaded the semantic cache is skipped.
        "embedding_model": embedder().state if embedder_installed() else "not installed",
        # Nor are the replicas: the primary serves their reads while one is away or lags.
        "replicas": await in_db_thread(_replicas)(),
    }
    return JsonResponse(body, status=200 if ready else 503)

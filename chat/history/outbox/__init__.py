"""Finished turns the database could not take, kept until it can.

When PostgreSQL cannot be reached as an answer ends (a restart, a failover), the recorder puts the
turn here instead of failing it: the client still gets ``done``, and the turn (question, answer,
usage) is written once the database is back. With Redis, each tenant's turns wait in a Stream of
its own (``t:{tenant}:outbox``) and ``global:outbox`` names the tenants that have some, so any
instance can write them, a restarted one included; without Redis (the embedded default) they
wait in the process.

Exactly once: an instance replays a tenant's turns under a short lock, in one transaction that
skips every turn whose answer is already stored (a commit whose acknowledgement was lost), and
deletes them from the stream only after that commit. A turn that can never be written (bad data,
not an outage) is moved aside to ``t:{tenant}:outbox:dead`` and logged, so it cannot hold up the
turns behind it.
"""

from django.conf import settings

from chat.history.outbox.base import Entry, Outbox, Turn, decode, encode
from chat.history.outbox.memory import MemoryOutbox
from chat.history.outbox.redis import RedisOutbox
from infra import aio
from infra.hot_redis import hot_redis

_memory_outbox = aio.per_loop(MemoryOutbox)


def get_outbox() -> Outbox:
    """The outbox this deployment uses (Redis's is shared by every instance)."""
    if settings.REDIS_URL:
        return RedisOutbox(hot_redis())
    return _memory_outbox()


__all__ = ["Entry", "MemoryOutbox", "Outbox", "RedisOutbox", "Turn", "decode", "encode", "get_outbox"]

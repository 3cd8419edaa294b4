"""The generation store on Redis, shared by every instance (``chat.turns.store`` says what it
keeps). Keys, all but the lease index prefixed by the tenant:

- ``t:{tenant}:claim:{client_id}``: ``"{user_id}:{message_id}"`` (message id 0 while preparing);
- ``t:{tenant}:gen:{message_id}``: the frames, a Redis Stream trimmed to
  ``CHAT_GENERATION_MAX_FRAMES``, ended by an ``end`` entry;
- ``t:{tenant}:gen:{message_id}:meta``: owner, conversation, client id, last ``seq``, finished,
  watched-at, and the record the reaper needs;
- ``t:{tenant}:conv:{conversation_id}:gens``: the conversation's generations (for ``ready``);
- ``global:gens``: every running generation's lease, ``"{tenant}:{message_id}"`` scored by when
  it lapses (Redis's clock), platform-wide state so any instance can reap a dead one's work.
  It is in another Redis Cluster slot than the tenant's keys: never in the same script or
  transaction. A lease is taken before its generation begins and given back after it ends, so
  a lease may name a generation that is not there yet or has ended (the reaper leaves those),
  never the reverse.

Each operation is one round trip; the calls every message makes (claim, begin, the frames,
finish) go over the process's lean connection (``infra.lean_redis``), the frames of many
generations in one pipeline.
"""

import asyncio
import contextlib
import json
import time
import weakref
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from chat.frames import Frame
from chat.turns.store.base import (
    START,
    Claim,
    Entry,
    GenerationInfo,
    GenerationStoreUnavailable,
    GenKey,
    claim_value,
    encode_frame,
    parse_claim,
)
from infra.hot_redis import LUA_NOW_MS
from infra.keys import tenant_prefix
from infra.lean_redis import LeanClient, Script
from infra.redis_topology import Topology, async_client, topology_from_settings

LEASES = "global:gens"


# KEYS: claim, meta, conversation list, stream (the tenant's: one slot).
# ARGV: claim value, keep_ms, user, conversation, client id, record, message id, max_ms, orphan
# grace (s). The stream starts with a `start` entry, so that its expiry is set once here and
# each frame after is a single XADD.
_BEGIN = Script(
    LUA_NOW_MS
    + """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'user', ARGV[3], 'conv', ARGV[4], 'client', ARGV[5], 'record', ARGV[6],
  'done', 0, 'watched', 0, 'grace', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('XADD', KEYS[4], '*', 'start', 1)
redis.call('PEXPIRE', KEYS[4], ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[8]))
redis.call('ZADD', KEYS[3], now, ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
return 1
"""
)

# KEYS: leases. ARGV: lease member, lease_ttl_ms.
_LEASE = Script(
    LUA_NOW_MS
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# KEYS: claim. ARGV: the pending value of the caller's claim.
_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

# KEYS: leases. ARGV: lease_ttl_ms, members...
_RENEW = Script(
    LUA_NOW_MS
    + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
return 1
"""
)

# KEYS: leases. ARGV: limit.
_LAPSED = Script(
    LUA_NOW_MS
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
"""
)

_INFO_FIELDS = ("user", "conv", "client", "done", "watched", "grace")


def _stream(key: GenKey) -> str:
    return f"{tenant_prefix(key.tenant_id)}:gen:{key.message_id}"


def _meta(key: GenKey) -> str:
    return f"{_stream(key)}:meta"


def _member(key: GenKey) -> str:
    return f"{key.tenant_id}:{key.message_id}"


def _claim(tenant_id: int, client_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}:claim:{client_id}"


def _info(key: GenKey, values: list[Any]) -> GenerationInfo | None:
    if values[0] is None:
        return None
    user, conv, client, done, watched, grace = values
    return GenerationInfo(
        key=key,
        user_id=int(user),
        conversation_id=int(conv),
        client_id=client.decode(),
        orphan_grace_s=float(grace),
        finished=done == b"1",
        watched_at=float(watched or 0),
    )


def _last_seq(newest_first: list[Any]) -> int:
    """The ``seq`` of the last token frame among a stream's newest entries (after the last
    token come at most ``typing``, ``done``, an ``error`` and the end marker)."""
    for _, fields in newest_first:
        frame = fields.get(b"f")
        if frame is not None and b'"type":"token"' in frame:
            return int(json.loads(frame)["seq"])
    return 0


def _entries(raw: list[Any]) -> list[Entry]:
    """Frames, and the end marker as None; the `start` entry is only there to set the expiry."""
    entries: list[Entry] = []
    for entry_id, fields in raw:
        frame = fields.get(b"f")
        if frame is not None:
            entries.append((entry_id.decode(), json.loads(frame)))
        elif b"end" in fields:
            entries.append((entry_id.decode(), None))
    return entries


# Blocking reads (``follow``) wait longer than the hot client's timeouts allow: their own client.
# Each follower holds one of its connections while it waits (docs/scaling.md).
_followers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Topology, aioredis.Redis]]" = (
    weakref.WeakKeyDictionary()
)
_FOLLOWERS_MAX = 1024


def _follow_client(topology: Topology) -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    clients = _followers.setdefault(loop, {})
    found = clients.get(topology)
    if found is not None:
        return found
    options = {"socket_timeout": 30, "socket_connect_timeout": settings.LIMITS_REDIS_TIMEOUT}
    if topology.kind == "single":
        pool = aioredis.BlockingConnectionPool.from_url(
            topology.url, max_connections=_FOLLOWERS_MAX, timeout=5, **options
        )
        client = aioredis.Redis(connection_pool=pool)
    else:  # Sentinel's and the Cluster's own pools
        client = async_client(topology, max_connections=_FOLLOWERS_MAX, **options)  # type: ignore[assignment]
    clients[topology] = client
    return client


class RedisGenerationStore:
    def __init__(self, client: aioredis.Redis, lean: LeanClient, *, topology: Topology | None = None) -> None:
        """``lean``: the connection each message's calls (claim, begin, frames, finish) go over
        (``infra.lean_redis``); ``client``, to the same Redis, carries the rest; ``topology``
        names it for the blocking reads' own clients (the settings' by default)."""
        self._client = client
        self._lean = lean
        self._topology = topology or topology_from_settings()
        self._max_frames = settings.CHAT_GENERATION_MAX_FRAMES
        self._max_ms = round(settings.CHAT_GENERATION_MAX_S * 1000)

    async def claim(self, *, tenant_id: int, client_id: str, user_id: int, ttl_s: float) -> Claim:
        key = _claim(tenant_id, client_id)
        try:
            *_, (won, value) = await self._lean.execute(
                ("MULTI",),
                ("SET", key, claim_value(user_id, None), "NX", "PX", round(ttl_s * 1000)),
                ("GET", key),
                ("EXEC",),
            )
        except (RedisError, OSError) as exc:
            raise GenerationStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return parse_claim(value.decode(), won=bool(won))

    async def release(self, *, tenant_id: int, client_id: str, user_id: int) -> None:
        # On an outage the claim lapses by itself (CHAT_CLAIM_TTL_S).
        with contextlib.suppress(RedisError, OSError):
            await self._lean.eval(_RELEASE, [_claim(tenant_id, client_id)], [claim_value(user_id, None)])

    async def begin(self, *, info: GenerationInfo, record: str, lease_ttl_s: float, keep_s: float) -> None:
        key = info.key
        keys = [
            _claim(key.tenant_id, info.client_id),
            _meta(key),
            f"{tenant_prefix(key.tenant_id)}:conv:{info.conversation_id}:gens",
            _stream(key),
        ]
        args: list[Any] = [
            claim_value(info.user_id, key.message_id),
            round((settings.CHAT_GENERATION_MAX_S + keep_s) * 1000),
            info.user_id,
            info.conversation_id,
            info.client_id,
            record,
            key.message_id,
            self._max_ms,
            info.orphan_grace_s,
        ]
        lease = [_member(key), round(lease_ttl_s * 1000)]
        try:  # the lease first (docstring), in the same round trip
            await self._lean.eval_many([(_LEASE, [LEASES], lease), (_BEGIN, keys, args)])
        except (RedisError, OSError) as exc:
            raise GenerationStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def append(self, frames: list[tuple[GenKey, Frame]]) -> None:
        # The streams' expiry was set by ``begin``; the last ``seq`` is read from the stream.
        await self._lean.execute(
            *(
                ("XADD", _stream(key), "MAXLEN", "~", self._max_frames, "*", "f", encode_frame(frame))
                for key, frame in frames
            )
        )

    async def finish(self, *, key: GenKey, keep_s: float) -> None:
        keep_ms = round(keep_s * 1000)
        await self._lean.execute(
            ("MULTI",),
            ("XADD", _stream(key), "*", "end", "1"),
            ("HSET", _meta(key), "done", 1),
            ("PEXPIRE", _stream(key), keep_ms),
            ("PEXPIRE", _meta(key), keep_ms),
            ("EXEC",),
            ("ZREM", LEASES, _member(key)),  # after the end (docstring), in the same round trip
        )

    async def renew(self, *, keys: list[GenKey], lease_ttl_s: float) -> None:
        if keys:
            await self._lean.eval(_RENEW, [LEASES], [round(lease_ttl_s * 1000), *map(_member, keys)])

    async def info(self, key: GenKey) -> GenerationInfo | None:
        return _info(key, await self._client.hmget(_meta(key), _INFO_FIELDS))

    async def record(self, key: GenKey) -> str | None:
        value: Any = await self._client.hget(_meta(key), "record")
        return value.decode() if value is not None else None

    async def read(self, key: GenKey, *, after: str = START) -> list[Entry]:
        raw: Any = await self._client.xrange(_stream(key), min=f"({after}")
        return _entries(raw)

    async def follow(self, key: GenKey, *, after: str, block_s: float) -> list[Entry]:
        client = _follow_client(self._topology)
        found: Any = await client.xread({_stream(key): after}, block=round(block_s * 1000))
        return _entries(found[0][1]) if found else []

    async def watch(self, key: GenKey) -> None:
        await self._client.hset(_meta(key), "watched", f"{time.time():f}")

    async def resumable(self, *, tenant_id: int, conversation_id: int, user_id: int) -> list[GenerationInfo]:
        ids: Any = await self._client.zrange(f"{tenant_prefix(tenant_id)}:conv:{conversation_id}:gens", 0, -1)
        if not ids:
            return []
        keys = [GenKey(tenant_id, int(i)) for i in ids]
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(_meta(key), _INFO_FIELDS)
                pipe.xrevrange(_stream(key), count=5)
            rows = await pipe.execute()
        found = []
        for key, meta, newest in zip(keys, rows[::2], rows[1::2], strict=True):
            info = _info(key, meta)
            if info is not None and info.user_id == user_id:
                found.append(replace(info, last_seq=_last_seq(newest)))
        return found

    async def lapsed(self, *, limit: int) -> list[GenKey]:
        members = await self._lean.eval(_LAPSED, [LEASES], [limit])
        return [GenKey(*map(int, member.decode().split(":"))) for member in members]

    async def take(self, key: GenKey) -> bool:
        return bool(await self._client.zrem(LEASES, _member(key)))

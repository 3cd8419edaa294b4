"""A lean Redis connection for the commands of every message: the frames the generation store
mirrors (``chat.turns.generations.Mirror``), the claim, the admission, the breaker, the working
memory, the exact cache.

redis-py spends about 115 µs of CPU on a command (its pool, its retry and timeout wrappers, a
reader task); the same ``XADD`` over a bare asyncio protocol with hiredis's packer and reader
costs about 20 µs. Here one connection per event loop carries every caller's commands
back to back (pipelined: the calls made in one turn of the event loop are written together, and
each is answered in order, from the protocol's ``data_received``, without a task of its own).
Replies come as hiredis reads them, without redis-py's per-command conversions (``SET`` answers
``b"OK"``, not ``True``).

Failures are plain: a call that gets no answer in ``timeout`` seconds raises ``TimeoutError``
and closes the connection (its replies would be out of step), a lost connection fails every
call waiting on it with ``ConnectionError``, and the next call connects again. A caller that is
cancelled leaves its replies to be read and dropped, so the connection stays in step.

Under Sentinel the address is asked of the Sentinels at each connection (``locate``) and the
server must say it is the master (``ROLE``), as Sentinel's client guidelines ask; a server that
answers ``READONLY`` (a master demoted by a failover) loses the connection, so the next call
finds the new master. A Redis Cluster's slots are routed by ``infra.lean_cluster``.
"""

import asyncio
import collections
import hashlib
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ResponseError

Command = tuple[str | bytes | int | float, ...]
Address = tuple[str, int]


class LeanRedisError(ResponseError):
    """Redis answered a command with an error (a ``RedisError``, as redis-py's would be)."""


@dataclass(frozen=True)
class Script:
    """A Lua script, sent by its SHA1 (``EVALSHA``) and in full only to a Redis that does not
    know it yet (after a restart or ``SCRIPT FLUSH``)."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._reader = hiredis.Reader()
        # Each call's future, how many replies it waits for, and those read so far.
        self.waiting: collections.deque[tuple[asyncio.Future[list[Any]], int, list[Any]]] = (
            collections.deque()
        )
        # The commands of the calls made since the last write: written together (``queue``).
        self._unwritten: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self.abort()
                return
            future, count, replies = self.waiting[0]
            replies.append(reply)
            if len(replies) == count:
                self.waiting.popleft()
                if not future.done():
                    future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiting:
            future, _, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"the connection to Redis was lost: {exc!r}"))

    def queue(self, data: bytes) -> None:
        """Write ``data`` with whatever other calls queue before the event loop's next turn: one
        write (one system call, one wake-up of the server) for all the calls the concurrent
        messages make at once, in the order they were made (the order their replies come in)."""
        if not self._unwritten:
            asyncio.get_running_loop().call_soon(self._write)
        self._unwritten.append(data)

    def _write(self) -> None:
        data, self._unwritten = b"".join(self._unwritten), []
        if not self.lost and self.transport is not None:
            self.transport.write(data)

    def abort(self) -> None:
        self.lost = True  # before connection_lost runs: no call writes on it meanwhile
        if self.transport is not None:
            self.transport.abort()


class LeanClient(Protocol):
    """What the message path calls: ``LeanRedis`` on one server, ``LeanCluster`` on a Cluster."""

    async def execute(self, *commands: Command) -> list[Any]: ...

    async def eval(self, script: Script, keys: Sequence[str], args: Sequence[Any] = ()) -> Any: ...

    async def eval_many(self, calls: Sequence[tuple[Script, Sequence[str], Sequence[Any]]]) -> list[Any]: ...

    async def close(self) -> None: ...


class LeanRedis:
    """One pipelined connection to the Redis of ``url`` (``redis://``, ``rediss://`` with the
    system's CAs, or ``unix://``; its user, password and database), made when first needed and
    again after it is lost. ``locate``: where the master is now (Sentinel), instead of the URL's
    host."""

    def __init__(
        self, url: str, *, timeout: float, locate: Callable[[], Awaitable[Address]] | None = None
    ) -> None:
        self._locate = locate
        options = parse_url(url)
        self._path = options.get("path")  # unix://
        self._host = str(options.get("host", "127.0.0.1"))
        self._port = int(options.get("port", 6379))
        self._hello: list[Command] = []
        if options.get("password"):
            user = options.get("username")
            self._hello.append(("AUTH", user, options["password"]) if user else ("AUTH", options["password"]))
        if options.get("db"):
            self._hello.append(("SELECT", int(options["db"])))
        if locate is not None:
            self._hello.append(("ROLE",))
        self._ssl = ssl.create_default_context() if url.startswith("rediss://") else None
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def execute(self, *commands: Command) -> list[Any]:
        """Send ``commands`` together; their replies, in order (``LeanRedisError`` if Redis
        refused one: the others were carried out)."""
        protocol = await self._connected()
        return _answered(await self._send(protocol, commands), protocol)

    async def execute_raw(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` together; their replies as Redis gave them (errors not raised)."""
        return await self._send(await self._connected(), tuple(commands))

    async def eval(self, script: Script, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        """Run ``script`` on ``keys`` and ``args``; its reply."""
        try:
            (reply,) = await self.execute(("EVALSHA", script.sha, len(keys), *keys, *args))
        except LeanRedisError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            (reply,) = await self.execute(("EVAL", script.source, len(keys), *keys, *args))
        return reply

    async def eval_many(self, calls: Sequence[tuple[Script, Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Run several scripts in one round trip, in order; their replies. A script Redis does
        not know yet is sent in full and run again alone (after the others)."""
        protocol = await self._connected()
        replies = await self._send(
            protocol, tuple(("EVALSHA", s.sha, len(keys), *keys, *args) for s, keys, args in calls)
        )
        for index, reply in enumerate(replies):
            if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
                script, keys, args = calls[index]
                (replies[index],) = await self.execute(("EVAL", script.source, len(keys), *keys, *args))
        return _answered(replies, protocol)

    async def close(self) -> None:
        if self._protocol is not None:
            self._protocol.abort()
            self._protocol = None

    async def _send(self, protocol: _Protocol, commands: tuple[Command, ...]) -> list[Any]:
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        protocol.waiting.append((future, len(commands), []))
        protocol.queue(b"".join(hiredis.pack_command(command) for command in commands))  # type: ignore[arg-type]
        timer = loop.call_later(self._timeout, _expire, protocol, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # one connection made, however many calls are waiting
            protocol = self._protocol
            if protocol is None or protocol.lost:
                protocol = self._protocol = await self._connect()
        return protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        host, port = (self._host, self._port) if self._locate is None else await self._locate()
        async with asyncio.timeout(self._timeout):
            if self._path:
                _, protocol = await loop.create_unix_connection(_Protocol, self._path)
            else:
                _, protocol = await loop.create_connection(_Protocol, host, port, ssl=self._ssl)
        if self._hello:
            try:
                replies = _answered(await self._send(protocol, tuple(self._hello)), protocol)
                if self._locate is not None and replies[-1][0] != b"master":
                    raise ConnectionError(f"{host}:{port} is not the master (yet): {replies[-1][0]!r}")
            except BaseException:
                protocol.abort()
                raise
        return protocol


def sentinel_locator(
    sentinels: Sequence[Address], master: str, *, timeout: float, password: str = "", tls: bool = False
) -> Callable[[], Awaitable[Address]]:
    """Where ``master`` is, as the first Sentinel that knows says (the Sentinels are asked in
    turn; one that answers is asked first next time)."""
    order = list(sentinels)
    scheme, auth = ("rediss" if tls else "redis"), (f":{password}@" if password else "")

    async def locate() -> Address:
        errors = []
        for index, (host, port) in enumerate(order):
            sentinel = LeanRedis(f"{scheme}://{auth}{host}:{port}", timeout=timeout)
            try:
                (found,) = await sentinel.execute(("SENTINEL", "get-master-addr-by-name", master))
            except (OSError, TimeoutError, LeanRedisError) as exc:
                errors.append(f"{host}:{port}: {exc!r}")
                continue
            finally:
                await sentinel.close()
            if found:
                order.insert(0, order.pop(index))
                return found[0].decode(), int(found[1])
            errors.append(f"{host}:{port}: does not know {master!r}")
        raise ConnectionError(f"no Sentinel named the master {master!r}: {'; '.join(errors)}")

    return locate


def _answered(replies: list[Any], protocol: _Protocol) -> list[Any]:
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            if str(reply).startswith("READONLY"):  # a demoted master: find the new one
                protocol.abort()
            raise LeanRedisError(str(reply))
    return replies


def _expire(protocol: _Protocol, future: asyncio.Future[list[Any]]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("Redis did not answer in time"))
        protocol.abort()  # the replies still due would answer the next calls

"""The lean connection (``infra.lean_redis``) on a Redis Cluster of several masters: one
``LeanRedis`` per master, each command sent to the master of its key's slot.

A call's commands keep their order: consecutive commands for one master go together in one
round trip, and the groups go one after the other (the generation's lease in ``global:gens`` is
taken before its tenant's script runs, on another master, and must stay so). A ``MULTI`` …
``EXEC`` block is one unit, sent where its first key lives (the platform's transactions stay in
one tenant's slot: ``infra.keys``). The slot map is read with ``CLUSTER SLOTS`` when first
needed, and again after a ``MOVED`` (the unit is sent again, up to three times) or a master
that could not be reached (a failover: the call fails, as on one server, and the next one asks
the cluster again). ``ASK`` (a slot being migrated) sends the unit to the named node after
``ASKING``.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis.crc import key_slot

from infra.lean_redis import Address, Command, LeanRedis, LeanRedisError, Script

_SLOTS = 16384
_KEYLESS = {b"MULTI", b"EXEC", b"DISCARD", b"PING", b"TIME", b"ASKING", b"ROLE"}
_TRIES = 3


def _name(command: Command) -> bytes:
    first = command[0]
    return (first if isinstance(first, bytes) else str(first).encode()).upper()


def _key(command: Command) -> str | bytes | None:
    """The key a command is routed by: ``EVAL``/``EVALSHA``'s first key, else its first
    argument; ``None`` for commands with no key."""
    name = _name(command)
    if name in _KEYLESS:
        return None
    if name in (b"EVAL", b"EVALSHA"):
        return command[3] if int(command[2]) > 0 else None  # type: ignore[return-value]
    return command[1] if len(command) > 1 else None  # type: ignore[return-value]


def _unit_key(unit: list[Command]) -> bytes | None:
    key = next((k for k in map(_key, unit) if k is not None), None)
    return None if key is None else key if isinstance(key, bytes) else str(key).encode()


def _answered(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            raise LeanRedisError(str(reply))
    return replies


def _units(commands: Sequence[Command]) -> list[list[Command]]:
    """``commands`` cut into units: a ``MULTI`` … ``EXEC`` block, or one command."""
    units: list[list[Command]] = []
    block: list[Command] | None = None
    for command in commands:
        name = _name(command)
        if block is not None:
            block.append(command)
            if name in (b"EXEC", b"DISCARD"):
                units.append(block)
                block = None
        elif name == b"MULTI":
            block = [command]
        else:
            units.append([command])
    if block is not None:
        units.append(block)
    return units


def _redirect(replies: list[Any]) -> tuple[str, Address] | None:
    """(``MOVED`` or ``ASK``, the node named) if Redis sent a unit elsewhere."""
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            kind, _, rest = str(reply).partition(" ")
            if kind in ("MOVED", "ASK"):
                host, _, port = rest.split(" ")[-1].rpartition(":")
                return kind, (host, int(port))
    return None


class LeanCluster:
    """``LeanRedis``'s interface on a Redis Cluster (``nodes``: some of its masters, to start
    from; ``node_url``: a node's URL with the credentials every connection shares, as
    ``infra.redis_topology.Topology.node_url`` makes it)."""

    def __init__(
        self, nodes: Sequence[Address], *, node_url: Callable[[Address], str], timeout: float
    ) -> None:
        self._seeds = list(nodes)
        self._node_url = node_url
        self._timeout = timeout
        self._nodes: dict[Address, LeanRedis] = {}
        self._owners: list[Address] | None = None  # slot → master
        self._refreshing: asyncio.Lock | None = None

    def _node(self, address: Address) -> LeanRedis:
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = LeanRedis(self._node_url(address), timeout=self._timeout)
        return node

    async def _map(self) -> list[Address]:
        if self._owners is None:
            if self._refreshing is None:
                self._refreshing = asyncio.Lock()
            async with self._refreshing:
                if self._owners is None:
                    self._owners = await self._read_map()
        return self._owners

    async def _read_map(self) -> list[Address]:
        known = [*self._seeds, *(a for a in self._nodes if a not in self._seeds)]
        errors = []
        for address in known:
            try:
                (ranges,) = await self._node(address).execute(("CLUSTER", "SLOTS"))
            except (OSError, TimeoutError, LeanRedisError) as exc:
                errors.append(f"{address}: {exc!r}")
                continue
            owners: list[Address] = [address] * _SLOTS
            for start, end, master, *_ in ranges:
                host = master[0].decode() or address[0]
                owner = (host, int(master[1]))
                owners[start : end + 1] = [owner] * (end - start + 1)
            return owners
        raise ConnectionError(f"no node of the Redis Cluster answered: {'; '.join(errors)}")

    def _stale(self) -> None:
        self._owners = None

    async def execute(self, *commands: Command) -> list[Any]:
        """Each command on its slot's master, in order; their replies (``LeanRedisError`` if
        Redis refused one: the others were carried out)."""
        return _answered(await self._execute(commands))

    async def _execute(self, commands: Sequence[Command]) -> list[Any]:
        owners = await self._map()
        replies: list[Any] = []
        batch: list[list[Command]] = []
        batch_owner = owners[0]
        for unit in _units(commands):
            key = _unit_key(unit)
            owner = owners[key_slot(key)] if key is not None else batch_owner
            if batch and owner != batch_owner:
                replies += await self._run(batch_owner, batch)
                batch = []
            batch.append(unit)
            batch_owner = owner
        if batch:
            replies += await self._run(batch_owner, batch)
        return replies

    async def _run(self, owner: Address, units: list[list[Command]]) -> list[Any]:
        """The units on ``owner`` in one round trip; a unit redirected is sent again where
        Redis says. Replies as Redis gave them (errors not raised)."""
        flat = [command for unit in units for command in unit]
        try:
            replies = await self._node(owner).execute_raw(flat)
        except (OSError, TimeoutError):
            self._stale()  # a master gone (a failover?): ask the cluster next time
            raise
        answered: list[Any] = []
        at = 0
        for unit in units:
            got = replies[at : at + len(unit)]
            at += len(unit)
            answered += await self._redirected(unit, got)
        return answered

    async def _redirected(self, unit: list[Command], replies: list[Any]) -> list[Any]:
        for _ in range(_TRIES):
            redirect = _redirect(replies)
            if redirect is None:
                return replies
            kind, node = redirect
            if kind == "MOVED":
                self._stale()
                owners = await self._map()
                key = _unit_key(unit)
                target = owners[key_slot(key)] if key is not None else owners[0]
                replies = await self._node(target).execute_raw(unit)
            else:
                replies = (await self._node(node).execute_raw([("ASKING",), *unit]))[1:]
        return replies

    async def eval(self, script: Script, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        """Run ``script`` on ``keys`` (one slot) and ``args``; its reply."""
        (reply,) = await self.eval_many([(script, keys, args)])
        return reply

    async def eval_many(self, calls: Sequence[tuple[Script, Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Several scripts, in order; a script a master does not know yet is sent in full and
        run again alone (after the others), as ``LeanRedis.eval_many`` does."""
        commands = [("EVALSHA", s.sha, len(keys), *keys, *args) for s, keys, args in calls]
        replies = await self._execute(commands)
        for index, reply in enumerate(replies):
            if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
                script, keys, args = calls[index]
                (replies[index],) = await self.execute(("EVAL", script.source, len(keys), *keys, *args))
        return _answered(replies)

    async def close(self) -> None:
        for node in self._nodes.values():
            await node.close()
        self._nodes.clear()

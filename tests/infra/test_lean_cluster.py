"""The lean connection on a Redis Cluster of three masters (``infra.lean_cluster``): each
command on its slot's master and the call's order kept across masters, a stale slot map mended
by ``MOVED``, scripts loaded where a master lacks them and run once, a master gone."""

import uuid

import pytest
import redis
from redis.crc import key_slot

from infra.lean_cluster import LeanCluster
from infra.lean_redis import LeanRedisError, Script
from testkit.redis_deployments import OwnRedisCluster

_INCR = Script("return redis.call('INCR', KEYS[1])")


def keys_on_each_master(cluster: OwnRedisCluster) -> list[str]:
    """One key per master, in the masters' order (``OwnRedisCluster`` shares the slots out in
    that order)."""
    found: dict[int, str] = {}
    share = 16384 // len(cluster.nodes)
    while len(found) < len(cluster.nodes):
        key = f"t:{{{uuid.uuid4().int % 10**9}}}:k"
        found.setdefault(min(key_slot(key.encode()) // share, len(cluster.nodes) - 1), key)
    return [found[index] for index in range(len(cluster.nodes))]


@pytest.fixture
async def lean(redis_cluster: OwnRedisCluster) -> LeanCluster:
    client = LeanCluster(
        [("127.0.0.1", redis_cluster.nodes[0].port)], node_url=redis_cluster.topology.node_url, timeout=10
    )
    yield client  # type: ignore[misc]
    await client.close()


async def test_each_command_runs_on_its_masters_slot_in_the_calls_order(
    lean: LeanCluster, redis_cluster: OwnRedisCluster
) -> None:
    a, b, c = keys_on_each_master(redis_cluster)
    replies = await lean.execute(
        ("SET", a, "1"), ("SET", b, "2"), ("INCR", a), ("MULTI",), ("SET", c, "3"), ("INCR", c), ("EXEC",),
        ("GET", b), ("GET", a), ("GET", c),
    )  # fmt: skip
    assert replies == [b"OK", b"OK", 2, b"OK", b"QUEUED", b"QUEUED", [b"OK", 4], b"2", b"2", b"4"]
    # Each key is stored on the master that owns its slot, and there only.
    for node, key in zip(redis_cluster.nodes, (a, b, c), strict=True):
        assert redis.Redis(port=node.port).exists(key) == 1
    with pytest.raises(LeanRedisError, match="CROSSSLOT"):  # as on any cluster
        await lean.execute(("MSET", a, "1", b, "2"))


async def test_a_stale_slot_map_is_mended_by_moved(lean: LeanCluster, redis_cluster: OwnRedisCluster) -> None:
    a, b, c = keys_on_each_master(redis_cluster)
    await lean.execute(("SET", a, "1"))
    first = ("127.0.0.1", redis_cluster.nodes[0].port)
    lean._owners = [first] * 16384  # as if every slot were the first master's
    assert await lean.execute(("SET", b, "2"), ("MULTI",), ("INCR", c), ("EXEC",), ("GET", b)) == [
        b"OK", b"OK", b"QUEUED", [1], b"2",
    ]  # fmt: skip
    assert lean._owners is not None and lean._owners[key_slot(b.encode())][1] == redis_cluster.nodes[1].port


async def test_scripts_are_loaded_where_missing_and_run_once(
    lean: LeanCluster, redis_cluster: OwnRedisCluster
) -> None:
    a, b, c = keys_on_each_master(redis_cluster)
    assert await lean.eval_many([(_INCR, [a], []), (_INCR, [b], []), (_INCR, [c], [])]) == [1, 1, 1]
    redis.Redis(port=redis_cluster.nodes[1].port).script_flush()  # the second master forgets it
    assert await lean.eval_many([(_INCR, [a], []), (_INCR, [b], []), (_INCR, [c], [])]) == [2, 2, 2]
    assert await lean.eval(_INCR, [b]) == 3


async def test_a_master_gone_fails_the_call_and_the_map_is_read_again() -> None:
    cluster = OwnRedisCluster()
    cluster.start()
    lean = LeanCluster(
        [("127.0.0.1", node.port) for node in cluster.nodes], node_url=cluster.topology.node_url, timeout=5
    )
    try:
        a, b, _ = keys_on_each_master(cluster)
        await lean.execute(("SET", a, "1"), ("SET", b, "2"))
        cluster.nodes[1].stop()
        with pytest.raises(OSError):
            await lean.execute(("GET", b))
        assert lean._owners is None  # asked of the cluster again next time
        assert await lean.execute(("GET", a)) == [b"1"]
    finally:
        await lean.close()
        cluster.stop()

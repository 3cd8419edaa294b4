"""``infra.redis_topology``: the settings that choose one Redis, Sentinel or a Cluster, and what
each client is given for them (the clients themselves run in ``tests/live/test_live_sentinel.py``,
the contract suites and ``tests/chat/test_on_redis_cluster.py``)."""

import pytest
from redis.asyncio.sentinel import SentinelManagedSSLConnection

from infra.redis_topology import Topology, addresses, celery_broker, channel_layer_hosts


def test_addresses_take_default_ports_and_ipv6() -> None:
    assert addresses(" h1:26380, h2 ,[::1]:7000", default_port=26379) == (
        ("h1", 26380), ("h2", 26379), ("::1", 7000),
    )  # fmt: skip
    with pytest.raises(ValueError, match="host"):
        addresses(":7000", default_port=1)


def test_each_deployment_is_chosen_by_its_settings() -> None:
    assert Topology.parse("redis://r:6379/2").kind == "single"
    sentinel = Topology.parse("redis://:s3cret@x/4", sentinels="a:26379,b", master="main")
    assert (sentinel.kind, sentinel.master, sentinel.database) == ("sentinel", "main", 4)
    cluster = Topology.parse("rediss://u:p%40ss@x/0", cluster="c1:7000,c2:7001")
    assert cluster.kind == "cluster"
    assert cluster.node_url(("c2", 7001)) == "rediss://u:p%40ss@c2:7001/0"
    with pytest.raises(ValueError, match="set one"):
        Topology.parse("redis://x/0", sentinels="a", cluster="b")
    with pytest.raises(ValueError, match="database 0"):
        Topology.parse("redis://x/3", cluster="b")


def test_the_channel_layer_and_celery_follow_the_deployment() -> None:
    single = Topology.parse("redis://r:6379/2")
    assert channel_layer_hosts(single) == ["redis://r:6379/2"]
    assert celery_broker(single) == ("redis://r:6379/2", {})
    sentinel = Topology.parse("redis://:pw@x/4", sentinels="a:26379,b:26380", master="main")
    (host,) = channel_layer_hosts(sentinel)
    assert host == {
        "sentinels": [("a", 26379), ("b", 26380)],
        "master_name": "main",
        "db": 4,
        "password": "pw",
    }
    assert celery_broker(sentinel) == (
        "sentinel://:pw@a:26379/4;sentinel://:pw@b:26380/4",
        {"master_name": "main"},
    )
    cluster = Topology.parse("redis://x/0", cluster="c1:7000,c2:7001")
    assert channel_layer_hosts(cluster) == ["redis://c1:7000/0", "redis://c2:7001/0"]
    with pytest.raises(ValueError, match="CELERY_BROKER_URL"):
        celery_broker(cluster)


def test_tls_under_sentinel_is_the_sentinel_managed_ssl_connection() -> None:

    (host,) = channel_layer_hosts(Topology.parse("rediss://:pw@x/1", sentinels="a"))
    assert host["connection_class"] is SentinelManagedSSLConnection and "ssl" not in host

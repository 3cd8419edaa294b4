"""Which Redis the platform runs on, and every Redis client made for it: one server
(``REDIS_URL``), a master watched by **Sentinel** (``REDIS_SENTINELS`` and
``REDIS_SENTINEL_MASTER``) or a **Redis Cluster** (``REDIS_CLUSTER_NODES``). One code path:
callers ask here for a client and never build one from a URL themselves.

Under Sentinel or a Cluster, ``REDIS_URL`` still gives what every connection shares (user,
password, ``rediss://``, and under Sentinel the database); its host is not used. The clients are
the maintained ones: redis-py's ``Sentinel``/``RedisCluster`` (sync and asyncio),
channels-redis's sentinel hosts and sharded hosts, kombu's sentinel transport; the lean
connection of the message path (``infra.lean_redis``) asks the Sentinels for the master
itself and routes by slot on a Cluster (``infra.lean_cluster``).
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelManagedSSLConnection as AsyncSentinelSSL
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import parse_url
from redis.sentinel import Sentinel, SentinelManagedSSLConnection

from infra.lean_cluster import LeanCluster
from infra.lean_redis import LeanClient, LeanRedis, sentinel_locator

Address = tuple[str, int]


def addresses(text: str, *, default_port: int) -> tuple[Address, ...]:
    """``"h1:26379, h2"`` → ``(("h1", 26379), ("h2", default_port))``; ``[::1]:7000`` for IPv6."""
    found = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parsed = urlsplit(f"//{item}")
        if not parsed.hostname:
            raise ValueError(f"not a host[:port]: {item!r}")
        found.append((parsed.hostname, parsed.port or default_port))
    return tuple(found)


@dataclass(frozen=True)
class Topology:
    """A Redis deployment. ``url``: the one server's, or what every connection shares."""

    url: str
    sentinels: tuple[Address, ...] = ()
    master: str = "mymaster"
    cluster: tuple[Address, ...] = ()

    @classmethod
    def parse(cls, url: str, *, sentinels: str = "", master: str = "", cluster: str = "") -> "Topology":
        found = cls(
            url=url,
            sentinels=addresses(sentinels, default_port=26379),
            master=master or "mymaster",
            cluster=addresses(cluster, default_port=6379),
        )
        if found.sentinels and found.cluster:
            raise ValueError("REDIS_SENTINELS and REDIS_CLUSTER_NODES are two deployments: set one")
        if found.cluster and found.database:
            raise ValueError("a Redis Cluster has database 0 only: REDIS_URL must not name another")
        return found

    @property
    def kind(self) -> str:
        return "cluster" if self.cluster else "sentinel" if self.sentinels else "single"

    @property
    def options(self) -> dict[str, Any]:
        """The URL's connection options (user, password, database, TLS) without its host."""
        options = dict(parse_url(self.url))
        for key in ("host", "port", "path", "connection_class"):
            options.pop(key, None)
        if self.url.startswith("rediss://"):
            options["ssl"] = True
        return options

    @property
    def database(self) -> int:
        return int(self.options.get("db", 0) or 0)

    def node_url(self, address: Address) -> str:
        """A ``redis://`` URL for one server of the deployment, with the shared credentials."""
        options = self.options
        scheme = "rediss" if options.get("ssl") else "redis"
        user = quote(options.get("username") or "", safe="")
        password = options.get("password")
        auth = f"{user}:{quote(password, safe='')}@" if password else ""
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"{scheme}://{auth}{host}:{address[1]}/{self.database}"


def topology_from_settings() -> Topology:
    return Topology.parse(
        settings.REDIS_URL,
        sentinels=settings.REDIS_SENTINELS,
        master=settings.REDIS_SENTINEL_MASTER,
        cluster=settings.REDIS_CLUSTER_NODES,
    )


def _sentinel_options(found: Topology) -> dict[str, Any]:
    """The Sentinels' own connections: the deployment's TLS, not its database or password
    (Sentinels usually have none; ``REDIS_SENTINEL_PASSWORD`` when they do)."""
    options: dict[str, Any] = {"socket_timeout": settings.LIMITS_REDIS_TIMEOUT}
    if settings.REDIS_SENTINEL_PASSWORD:
        options["password"] = settings.REDIS_SENTINEL_PASSWORD
    if found.options.get("ssl"):
        options["ssl"] = True
    return options


def _master_options(found: Topology, ssl_connection: type) -> dict[str, Any]:
    """The master's connection options under Sentinel: TLS is a connection class there."""
    options = found.options
    if options.pop("ssl", False):
        options["connection_class"] = ssl_connection
    return options


def sync_client(found: Topology | None = None, **options: Any) -> "redis.Redis | RedisCluster":
    """A redis-py client on the deployment (its master under Sentinel)."""
    found = found or topology_from_settings()
    if found.cluster:
        shared = {k: v for k, v in found.options.items() if k != "db"}
        return RedisCluster(startup_nodes=[ClusterNode(*a) for a in found.cluster], **shared, **options)
    if found.sentinels:
        sentinel = Sentinel(list(found.sentinels), sentinel_kwargs=_sentinel_options(found))
        return sentinel.master_for(
            found.master, **_master_options(found, SentinelManagedSSLConnection), **options
        )
    return redis.Redis.from_url(found.url, **options)


def async_client(found: Topology | None = None, **options: Any) -> "aioredis.Redis | AsyncRedisCluster":
    """A redis.asyncio client on the deployment (its master under Sentinel). Options a
    Cluster's client does not take (a pool's own) are for the one server only."""
    found = found or topology_from_settings()
    if found.cluster:
        shared = {k: v for k, v in found.options.items() if k != "db"}
        for key in ("max_connections", "timeout"):
            options.pop(key, None)
        nodes = [AsyncClusterNode(*a) for a in found.cluster]
        return AsyncRedisCluster(startup_nodes=nodes, **shared, **options)
    if found.sentinels:
        options.pop("timeout", None)
        sentinel = AsyncSentinel(list(found.sentinels), sentinel_kwargs=_sentinel_options(found))
        return sentinel.master_for(found.master, **_master_options(found, AsyncSentinelSSL), **options)
    return aioredis.Redis.from_url(found.url, **options)


def lean_client(found: Topology, *, timeout: float) -> LeanClient:
    """The message path's lean connection on the deployment (``infra.lean_redis``)."""
    if found.cluster:
        return LeanCluster(found.cluster, node_url=found.node_url, timeout=timeout)
    if found.sentinels:
        locate = sentinel_locator(
            found.sentinels,
            found.master,
            timeout=timeout,
            password=settings.REDIS_SENTINEL_PASSWORD,
            tls=bool(found.options.get("ssl")),
        )
        return LeanRedis(found.url, timeout=timeout, locate=locate)
    return LeanRedis(found.url, timeout=timeout)


def channel_layer_hosts(found: Topology) -> list[Any]:
    """channels-redis's hosts: the server; the Sentinels and master name; or each master of a
    Cluster as a shard (pub/sub is not bound to slots: a message published on one node reaches
    a subscriber on any other over the cluster bus)."""
    if found.sentinels:
        return [{"sentinels": list(found.sentinels), "master_name": found.master,
                 **_master_options(found, AsyncSentinelSSL)}]  # fmt: skip
    if found.cluster:
        return [found.node_url(address) for address in found.cluster]
    return [found.url]


def celery_broker(found: Topology) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and transport options on the deployment. kombu has no Redis Cluster
    transport: a Cluster deployment names its broker (``CELERY_BROKER_URL``, a single Redis or a
    Sentinel set) apart."""
    if found.cluster:
        raise ValueError("Celery cannot use a Redis Cluster as its broker: set CELERY_BROKER_URL")
    if found.sentinels:
        options = found.options
        auth = f":{quote(options['password'], safe='')}@" if options.get("password") else ""
        urls = ";".join(f"sentinel://{auth}{h}:{p}/{found.database}" for h, p in found.sentinels)
        return urls, {"master_name": found.master}
    return found.url, {}

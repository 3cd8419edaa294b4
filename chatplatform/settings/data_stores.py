"""Postgres or SQLite; Redis or in-process hot state; the channel layer."""

from typing import Any

import dj_database_url

from infra.env import env_bool, env_float, env_int, env_str
from infra.redis_topology import Topology, channel_layer_hosts

from .base import BASE_DIR

DATABASE_URL = env_str("DATABASE_URL")
# Redis: one server (REDIS_URL), a master watched by Sentinel (REDIS_SENTINELS,
# REDIS_SENTINEL_MASTER) or a Cluster (REDIS_CLUSTER_NODES); infra.redis_topology makes the
# clients. Under Sentinel or a Cluster, REDIS_URL gives the credentials, TLS and database only.
REDIS_SENTINELS = env_str("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER") or "mymaster"
REDIS_SENTINEL_PASSWORD = env_str("REDIS_SENTINEL_PASSWORD")
REDIS_CLUSTER_NODES = env_str("REDIS_CLUSTER_NODES")
REDIS_URL = env_str("REDIS_URL") or ("redis://redis/0" if REDIS_SENTINELS or REDIS_CLUSTER_NODES else "")
REDIS_TOPOLOGY = Topology.parse(
    REDIS_URL, sentinels=REDIS_SENTINELS, master=REDIS_SENTINEL_MASTER, cluster=REDIS_CLUSTER_NODES
)

if DATABASE_URL:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend with a pool that gets past a restart at once (infra.postgres).
        _database["ENGINE"] = "infra.postgres"
        # Under ASGI, persistent connections leak; Django's psycopg pool replaces them. Health
        # checks: with a pool, Django has it try each connection (one empty round trip) as it
        # leaves the pool, so a PostgreSQL restart costs no request a dead connection. `timeout`:
        # while the database is down a request waits this long for a connection, then gets a
        # clear refusal (HTTP 503, close 1013, SERVICE_UNAVAILABLE).
        _database["CONN_HEALTH_CHECKS"] = True
        _database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2),
            "max_size": env_int("DB_POOL_MAX", 20),
            "timeout": env_float("DB_POOL_TIMEOUT_S", 3.0),
        }
else:
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env_str("SQLITE_PATH") or str(BASE_DIR / "db.sqlite3"),
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
DATABASES: dict[str, Any] = {"default": _database}

# Behind PgBouncer in transaction mode a connection's session is not the client's own from one
# transaction to the next: no statement psycopg prepares on the server (it would after 5 runs)
# and no server-side cursor (an export's iterator) may outlive its transaction. psycopg's advice.
DATABASE_PGBOUNCER = env_bool("DATABASE_PGBOUNCER")
if DATABASE_PGBOUNCER and _database["ENGINE"] == "infra.postgres":
    _database["OPTIONS"]["prepare_threshold"] = None
    _database["DISABLE_SERVER_SIDE_CURSORS"] = True

# Streaming replicas of the primary for the reports, exports and the console (infra.replicas):
# ``replica1``, ``replica2``, ... Tests run them as mirrors of the test database.
for _number, _url in enumerate(filter(None, env_str("DATABASE_REPLICA_URLS").split(",")), 1):
    _replica: dict[str, Any] = {**dj_database_url.parse(_url.strip(), conn_max_age=0)}
    _replica.update(ENGINE="infra.postgres", CONN_HEALTH_CHECKS=True, TEST={"MIRROR": "default"})
    # A replica that is away is given up on fast: the primary serves its reads meanwhile.
    _replica.setdefault("OPTIONS", {}).update(
        connect_timeout=2,
        pool={"min_size": 0, "max_size": env_int("DB_POOL_MAX", 20), "timeout": 2.0},
    )
    DATABASES[f"replica{_number}"] = _replica
DATABASE_ROUTERS = ["infra.replicas.ReplicaRouter"]
REPLICA_CHECK_S = env_float("REPLICA_CHECK_S", 5.0)
REPLICA_MAX_LAG_S = env_float("REPLICA_MAX_LAG_S", 30.0)


def _key_as_is(key: str, key_prefix: str, version: int) -> str:
    """Cache keys are written whole by their users (``global:...``, ``t:{tenant}:...``), like
    every other Redis key of the platform."""
    return key


# Platform-wide state that every instance must share (sign-in failures, ended logins): Redis in
# production, this process's memory in the embedded default.
CACHES = {
    "default": (
        {
            "BACKEND": (
                "django.core.cache.backends.redis.RedisCache"
                if REDIS_TOPOLOGY.kind == "single"
                else "infra.redis_cache.RedisCache"
            ),
            "LOCATION": REDIS_URL,
            "KEY_FUNCTION": _key_as_is,
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_FUNCTION": _key_as_is}
    )
}


def redis_channel_layer(topology: Topology, prefix: str = "") -> dict[str, Any]:
    """The channels-redis pub/sub layer on the deployment. Pub/sub channels ignore Redis's
    database number: two deployments on one server (two databases) would hear each other's
    groups (a user's sockets are ``t:1:user:1`` in both). So the prefix carries the database,
    unless ``prefix`` (``CHANNEL_LAYER_PREFIX``) names the deployment."""
    return {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": channel_layer_hosts(topology),
            "prefix": prefix or f"asgi-db{topology.database}",
        },
    }


if REDIS_URL:
    # STYLE.md: the pub/sub layer held 2,000 consumers where RedisChannelLayer timed out.
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_TOPOLOGY, env_str("CHANNEL_LAYER_PREFIX"))}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

"""Django's PostgreSQL backend, with a pool that hands out a fresh connection at once after a
PostgreSQL restart.

With ``CONN_HEALTH_CHECKS`` psycopg_pool checks a connection as it leaves the pool; one that
fails is thrown away and the next idle one is tried: the second at once, the third after 1 s, the
fourth after 2 s more (its reconnection backoff). After a restart every idle connection is dead,
so with four pooled a request met three dead ones and ran out of ``DB_POOL_TIMEOUT_S`` (3 s)
before it reached a fresh one: the first message after a restart was refused although the
database was back. Here the first connection that fails its check makes the pool check all its
other idle connections there and then (``ConnectionPool.check``: the dead ones are replaced in
the background), so the retry, which psycopg_pool makes without waiting, gets a fresh one.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg_pool import ConnectionPool


class RestartTolerantPool(ConnectionPool):
    def __init__(self, *args: Any, check: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, check=self._check_or_sweep if check is not None else None, **kwargs)

    def _check_or_sweep(self, conn: Connection[Any]) -> None:
        try:
            self.check_connection(conn)
        except Exception:
            # The others were opened before this one failed: the same restart killed them.
            self.check()
            raise


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        """Django's own pool property (Django 5.2), with ``RestartTolerantPool``."""
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        # Django's own attributes, which django-stubs does not declare.
        pools: dict[str, ConnectionPool] = self._connection_pools  # type: ignore[attr-defined]
        if self.alias not in pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # Django sets it properly later on
            pool = RestartTolerantPool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,  # type: ignore[attr-defined]
                check=ConnectionPool.check_connection if self.settings_dict["CONN_HEALTH_CHECKS"] else None,
                **({} if pool_options is True else pool_options),
            )
            # Several threads may build one at start; the first one set wins (as in Django).
            pools.setdefault(self.alias, pool)
        return pools[self.alias]

"""Reads that may come from a PostgreSQL streaming replica: the reports (analytics, usage), the
exports, the console's figures and the tenant's lists that no one just wrote to. Never a read
that must see the caller's own write (the turn, the chat page's own conversations).

``DATABASE_REPLICA_URLS`` names the replicas (database aliases ``replica1``, ``replica2``, …).
``replica_reads`` marks a view whose reads go to one: Django's router (``ReplicaRouter``) sends
every read made meanwhile to the alias ``reading_alias`` picked, and writes to the primary. A
replica is used while it answers, is still a replica (``pg_is_in_recovery``) and its replay lags
the primary by at most ``REPLICA_MAX_LAG_S`` (checked at most every ``REPLICA_CHECK_S``); else
the primary serves the reads. A view whose replica fails under it is run again on the primary,
and that replica rests until its next check.
"""

import contextvars
import functools
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import structlog
from django.conf import settings
from django.db import connections, models

from infra.db import DATABASE_DOWN

log = structlog.stdlib.get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# The lag of a replica whose replay has caught up with what it received: none.
_LAG_SQL = (
    "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    alias: str
    usable: bool
    lag_s: float | None
    error: str
    checked_at: float


_statuses: dict[str, ReplicaStatus] = {}
_turn = itertools.count()
_reading: contextvars.ContextVar[str | None] = contextvars.ContextVar("reading_alias", default=None)


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica")]


def replica_status(alias: str, *, fresh: bool = False) -> ReplicaStatus:
    """The replica's last check, made again when older than ``REPLICA_CHECK_S`` (or ``fresh``)."""
    status = _statuses.get(alias)
    if status is not None and not fresh and time.monotonic() - status.checked_at < settings.REPLICA_CHECK_S:
        return status
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(_LAG_SQL)
            in_recovery, lag = cursor.fetchone()
    except DATABASE_DOWN as exc:
        status = ReplicaStatus(alias, False, None, f"{type(exc).__name__}: {exc}"[:200], time.monotonic())
    else:
        lag_s = float(lag)
        if not in_recovery:
            error = "not a replica (promoted?)"
        elif lag_s > settings.REPLICA_MAX_LAG_S:
            error = f"lags {lag_s:.1f} s behind the primary"
        else:
            error = ""
        status = ReplicaStatus(alias, not error, round(lag_s, 3), error, time.monotonic())
    if not status.usable and (_statuses.get(alias) is None or _statuses[alias].usable):
        log.warning("db.replica_unusable", alias=alias, error=status.error)
    _statuses[alias] = status
    return status


def reading_alias() -> str:
    """A usable replica, in turn, or the primary (``default``)."""
    aliases = replica_aliases()
    if not aliases:
        return "default"
    start = next(_turn)  # one step of C code: no two threads get the same
    for index in range(len(aliases)):
        alias = aliases[(start + index) % len(aliases)]
        if replica_status(alias).usable:
            return alias
    return "default"


def _rest(alias: str, exc: BaseException) -> None:
    """``alias`` failed under a read: unusable until its next check."""
    _statuses[alias] = ReplicaStatus(
        alias, False, None, f"{type(exc).__name__}: {exc}"[:200], time.monotonic()
    )
    log.warning("db.replica_failed", alias=alias, error=repr(exc))


def replica_reads(view: Callable[P, R]) -> Callable[P, R]:
    """The reads of ``view`` (a sync view or handler) go to a replica, or the primary."""

    @functools.wraps(view)
    def reading(*args: P.args, **kwargs: P.kwargs) -> R:
        alias = reading_alias()
        if alias == "default":
            return view(*args, **kwargs)
        token = _reading.set(alias)
        try:
            return view(*args, **kwargs)
        except DATABASE_DOWN as exc:
            _rest(alias, exc)
        finally:
            _reading.reset(token)
        return view(*args, **kwargs)  # on the primary

    return reading


class ReplicaRouter:
    """Reads marked by ``replica_reads`` go to its replica; everything else, and every write
    and migration, to the primary."""

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str | None:
        return _reading.get()

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        return True  # the same data, wherever it was read

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"

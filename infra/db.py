"""Running the ORM from the chat consumer's event loop.

``database_sync_to_async`` defaults to ``thread_sensitive=True``: every ORM call of the process
runs on one thread, one after the other. The chat path's calls are each self-contained (their
own transaction, their own pooled connection), so they run on the loop's thread pool instead
and a slow query of one conversation does not queue every other conversation behind it.
"""

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections, connection, models
from django.http import JsonResponse
from django.utils import timezone

# A database that cannot be reached (down, restarting, no connection free in time): unlike a bad
# query or bad data, what met one may succeed when it is sent again. psycopg's errors, and the
# pool's timeout, reach the caller as these (Django wraps them).
DATABASE_DOWN: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

# What a client that met one is told (a restart takes seconds): on a socket (chat.protocol), and
# on the REST API and every page (503).
DATABASE_DOWN_MESSAGE = "the service is briefly unavailable; try again shortly"
DATABASE_DOWN_RETRY_AFTER_S = 5
DATABASE_DOWN_BODY = {"detail": DATABASE_DOWN_MESSAGE, "code": "service_unavailable"}
DATABASE_DOWN_HEADERS = {"Retry-After": str(DATABASE_DOWN_RETRY_AFTER_S)}


def database_down_response() -> JsonResponse:
    return JsonResponse(DATABASE_DOWN_BODY, status=503, headers=DATABASE_DOWN_HEADERS)


# The largest value of a bigint column (ids): a larger number a client sends is refused with 400,
# not sent to PostgreSQL to fail there (a DataError, a 500).
BIGINT_MAX = 2**63 - 1

# psycopg parses a statement's placeholders once and caches the result only for statements of
# at most this many parameters; the parsing of a larger one grows faster than its size.
CACHED_STATEMENT_PARAMS = 50

P = ParamSpec("P")
R = TypeVar("R")


def in_db_thread(func: Callable[P, R]) -> Callable[P, Any]:
    """Wrap ``func`` to run, awaited, on a pool thread with its own database connection.

    The connection goes back to the pool as soon as ``func`` returns. Channels does the same,
    but its test communicator turns that clean-up off, which with short-lived pool threads
    strands one connection per thread.
    """

    @functools.wraps(func)
    def run_and_release(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return database_sync_to_async(run_and_release, thread_sensitive=False)  # type: ignore[no-any-return]


def insert_rows(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (values by field ``attname``; a field a row leaves out gets its default,
    an ``auto_now_add`` one the time) in one round trip, or two. What ``bulk_create`` writes,
    each value converted by its field as there, without a model instance per row or the SQL
    compiler: they were most of the CPU of the turn write, the largest part of the hot path's
    database work (``bench/ws_bench.py``'s profile). Sends no signals (nor does ``bulk_create``).

    Statements of as many rows as keep them within ``CACHED_STATEMENT_PARAMS``, the full ones
    sent together (psycopg pipelines ``executemany``), the rest in one more: the parsing of
    one statement of every row grew faster than the batch (120 message rows: 15 ms of CPU,
    against 7.2 so)."""
    if not rows:
        return
    given = frozenset().union(*rows)
    concrete = model._meta.concrete_fields
    unknown = given - {f.attname for f in concrete}
    if unknown:  # as a model would refuse them
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    fields = [f for f in concrete if not (f.primary_key and f.attname not in given)]
    now = timezone.now()
    params: list[Any] = []
    for row in rows:
        for field in fields:
            if field.attname in row:
                value = row[field.attname]
            elif getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
                value = now
            else:
                value = field.get_default()
            params.append(field.get_db_prep_save(value, connection))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    width = len(fields) * max(1, CACHED_STATEMENT_PARAMS // len(fields))  # parameters a statement
    full = len(params) // width * width
    with connection.cursor() as cursor:
        if full:
            statement = head + ", ".join([row_sql] * (width // len(fields)))
            batches = [params[i : i + width] for i in range(0, full, width)]
            if len(batches) == 1:  # a pipeline costs more than it saves for one
                cursor.execute(statement, batches[0])
            else:
                cursor.executemany(statement, batches)
        if full < len(params):
            cursor.execute(head + ", ".join([row_sql] * ((len(params) - full) // len(fields))), params[full:])

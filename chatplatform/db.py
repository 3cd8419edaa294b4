"""Running the ORM from the chat consumer's event loop.

``database_sync_to_async`` defaults to ``thread_sensitive=True``: every ORM call of the process
runs on one thread, one after the other. The chat path's calls are each self-contained (their
own transaction, their own pooled connection), so they run on the loop's thread pool instead
and a slow query of one conversation does not queue every other conversation behind it.
"""

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import JsonResponse

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

"""The last word on an exception no view handled (Django's ``handler500``)."""

import sys

from django.http import HttpRequest, JsonResponse

from infra.db import DATABASE_DOWN, database_down_response


def server_error(request: HttpRequest) -> JsonResponse:
    """A database that cannot be reached is 503 with ``Retry-After`` (it is back in seconds, as
    after a restart), wherever it was met: a view, a middleware, a session. Anything else: 500."""
    if isinstance(sys.exc_info()[1], DATABASE_DOWN):
        return database_down_response()
    return JsonResponse({"detail": "server error", "code": "server_error"}, status=500)

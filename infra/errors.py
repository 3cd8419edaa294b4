"""The last word on what no view answered (Django's ``handler404``, ``handler403``,
``handler500``): a JSON body for the API and the widget's endpoints, a page for people."""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from infra.db import DATABASE_DOWN, database_down_response


def server_error(request: HttpRequest) -> JsonResponse:
    """A database that cannot be reached is 503 with ``Retry-After`` (it is back in seconds, as
    after a restart), wherever it was met: a view, a middleware, a session. Anything else: 500."""
    if isinstance(sys.exc_info()[1], DATABASE_DOWN):
        return database_down_response()
    return JsonResponse({"detail": "server error", "code": "server_error"}, status=500)


def _for_a_program(request: HttpRequest) -> bool:
    """The API, the widget's endpoints below its panel (``/widget/<key>/visitors/``…; the panel
    page itself is for people), or a client that asks for JSON."""
    path = request.path
    widget_endpoint = path.startswith("/widget/") and path.rstrip("/").count("/") > 2
    return (
        path.startswith("/api/") or widget_endpoint or "application/json" in request.headers.get("Accept", "")
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _for_a_program(request):
        return JsonResponse({"detail": "not found", "code": "not_found"}, status=404)
    return render(request, "404.html", status=404)


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _for_a_program(request):
        return JsonResponse({"detail": "permission denied", "code": "permission_denied"}, status=403)
    return render(request, "403.html", status=403)

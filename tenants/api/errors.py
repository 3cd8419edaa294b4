"""Every API error is JSON with ``detail`` and a machine-readable ``code``."""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None
    codes = getattr(exc, "get_codes", lambda: None)()
    if isinstance(response.data, dict) and "detail" in response.data:
        response.data.setdefault("code", codes if isinstance(codes, str) else "error")
    else:
        response.data = {"detail": response.data, "code": "invalid"}
    return response

"""Every API error is JSON of one shape: ``{"detail": str, "code": str, "errors"?: {field: [..]},
"retry_after"?: int, "limit"?: str}``."""

import math
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from infra.db import DATABASE_DOWN, DATABASE_DOWN_BODY, DATABASE_DOWN_HEADERS


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "conflict"
    default_code = "conflict"


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DATABASE_DOWN):
        return Response(DATABASE_DOWN_BODY, status=503, headers=DATABASE_DOWN_HEADERS)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"detail": "invalid input", "code": "invalid", "errors": errors}
        return response
    codes = getattr(exc, "get_codes", lambda: None)()
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    response.data = {"detail": str(detail), "code": codes if isinstance(codes, str) else "error"}
    wait = getattr(exc, "wait", None) if isinstance(exc, Throttled) else None
    if wait is not None:
        response.data["retry_after"] = math.ceil(wait)  # also in the Retry-After header
    limit = getattr(exc, "limit", None)  # which of the tier's limits refused (a quota, a rate)
    if isinstance(limit, str):
        response.data["limit"] = limit
    return response

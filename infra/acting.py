"""Who acts in the HTTP request being served, for what records who changed what (the audit log).

``ActorMiddleware`` keeps the request in a context variable; ``current_actor`` reads its user
when asked, so a request that changes nothing costs nothing. DRF sets the underlying request's
user when it authenticates a token, so an API call is its token's user and a page its session's.
Outside a request (a Celery task, a management command) no one acts: the platform does.
"""

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    name: str
    ip: str | None
    # How they signed in: "session" (a browser), "token" (a JWT), "key cpk_…" (an API key),
    # "scim cpk_…" (an API key on the SCIM endpoints).
    credential: str = ""


_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("acting_request", default=None)


def current_actor() -> Actor | None:
    """The signed-in person of the request being served; None: no request, or no one signed in."""
    request = _request.get()
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return None
    auth = getattr(request, "auth", None)  # DRF sets it on the underlying request too
    prefix = getattr(auth, "prefix", None)
    kind = getattr(auth, "kind", "key")
    credential = "session" if auth is None else f"{kind} {prefix}" if prefix else "token"
    return Actor(
        user_id=user.pk,
        name=user.get_username(),
        ip=request.META.get("REMOTE_ADDR") or None,
        credential=credential,
    )


class ActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)

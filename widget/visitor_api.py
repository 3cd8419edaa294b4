"""What the widget's panel asks for over HTTP, as a visitor: a visitor token
(``POST /widget/<key>/visitors/``) and the visitor's own conversations. Not the management API:
no member credential works here, and a visitor token works nowhere else (``/api/v1/`` refuses
it: it is not a JWT of ours). Errors have the API's JSON shape (``tenants.api.errors``).

``POST visitors/`` with ``{}`` starts an anonymous visitor (refused when the site requires
verification); with ``{"identity": <JWT>}`` it gives the verified visitor the tenant's server
signed for (``widget.identity``). New visitors per address and hour are capped
(``WIDGET_NEW_VISITORS_PER_ADDRESS_PER_HOUR``: each is a row, so a loop must not make millions).
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from widget.identity import BadToken, anonymous_expiry, identity_claims, visitor_token
from widget.models import Site, Visitor
from widget.selectors import (
    SiteNotFound,
    VerificationRequired,
    site_for_key,
    visitor_conversations,
    visitor_transcript,
    visitor_with_token,
)
from widget.services import TooManyVisitors, visitor_identified, visitor_start

_AUTH_PREFIX = "Visitor "


class MustBeVerified(exceptions.PermissionDenied):
    default_detail = "this site accepts verified visitors only"
    default_code = "verification_required"


class _WidgetView(APIView):
    """Public: no session, no JWT (a member's credentials mean nothing here). The widget's
    refusals become the API's JSON errors here, once for every view."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, SiteNotFound):
            exc = exceptions.NotFound("no such site")
        elif isinstance(exc, BadToken):
            exc = exceptions.AuthenticationFailed(str(exc))
        elif isinstance(exc, VerificationRequired):
            exc = MustBeVerified()
        elif isinstance(exc, TooManyVisitors):
            exc = exceptions.Throttled(wait=exc.retry_after, detail=str(exc))
        return super().handle_exception(exc)

    def visitor(self, request: Request, site: Site) -> Visitor:
        """The visitor the ``Authorization: Visitor <token>`` header names, on this site."""
        header = request.headers.get("Authorization", "")
        if not header.startswith(_AUTH_PREFIX):
            raise exceptions.NotAuthenticated("send the visitor token: Authorization: Visitor <token>")
        return visitor_with_token(site=site, token=header[len(_AUTH_PREFIX) :])[0]

    def get_authenticate_header(self, request: Request) -> str:
        return "Visitor"


@extend_schema(exclude=True)
class VisitorsView(_WidgetView):
    def post(self, request: Request, key: str) -> Response:
        site = site_for_key(key)
        body = request.data if isinstance(request.data, dict) else {}
        address = request.META.get("REMOTE_ADDR") or "unknown"
        if "identity" in body:
            identity = identity_claims(body["identity"], secret=site.identity_secret)
            visitor = visitor_identified(site=site, identity=identity, address=address)
            expires_at = identity.expires_at
        elif site.require_verification:
            raise MustBeVerified()
        else:
            visitor = visitor_start(site=site, address=address)
            expires_at = anonymous_expiry()
        token = visitor_token(visitor_id=visitor.pk, site_id=site.pk, expires_at=expires_at)
        return Response(
            {
                "token": token,
                "expires_at": int(expires_at),
                "visitor": {"verified": visitor.verified, "name": visitor.name},
            },
            status=status.HTTP_201_CREATED,
        )


@extend_schema(exclude=True)
class VisitorConversationsView(_WidgetView):
    def get(self, request: Request, key: str) -> Response:
        return Response(visitor_conversations(self.visitor(request, site_for_key(key))))


@extend_schema(exclude=True)
class VisitorMessagesView(_WidgetView):
    def get(self, request: Request, key: str, conversation_id: int) -> Response:
        visitor = self.visitor(request, site_for_key(key))
        messages = visitor_transcript(visitor, conversation_id=conversation_id)
        if messages is None:
            raise exceptions.NotFound("no such conversation")
        return Response(messages)

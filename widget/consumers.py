"""The widget's chat socket (``/ws/widget/<site key>/[<conversation id>/]``): the chat's own
consumer and protocol, opened for a visitor of a site instead of a member.

The handshake must come from the widget's iframe page, on this platform's origin (a page on any
other origin, allowed domains included, gets HTTP 403: the host page never holds a socket), for
an enabled site, with a visitor token of that site (``widget.identity``). A token that is missing,
not ours, expired or another site's is told (``UNAUTHENTICATED``, close 4401: the page fetches a
new one); an anonymous visitor of a site that now requires verification gets
``VERIFICATION_REQUIRED`` and 4403. From there on it is the same turn as a member's, with the
visitor's rights (``visitor_access_sql``) and limits (``visitor_limits``), and without the
fields of frames only members see (``chat.frames.for_visitor``).
"""

from typing import Any

from chat.consumers import ChatConsumer
from chat.frames import Frame, for_visitor
from chat.opening import OpenSocket, socket_open
from chat.protocol import CLOSE_RIGHTS_REVOKED, CLOSE_TOKEN_EXPIRED, ErrorCode
from chat.ws_auth import ChatPrincipal, Refused, offered_token, same_origin
from infra.db import in_db_thread
from infra.proxies import scope_address
from widget.identity import BadToken
from widget.selectors import (
    VISITOR_ROLE,
    SiteNotFound,
    VerificationRequired,
    site_for_key,
    visitor_access_sql,
    visitor_limits,
    visitor_with_token,
)


async def visitor_principal(scope: dict[str, Any]) -> ChatPrincipal:
    if not same_origin(scope):
        raise Refused("widget socket from a page that is not the widget's")
    subprotocol, token = offered_token(scope)
    return await in_db_thread(_visitor)(
        scope["url_route"]["kwargs"]["site_key"], token, subprotocol, scope_address(scope)
    )


def _visitor(key: str, token: str | None, subprotocol: str | None, address: str) -> ChatPrincipal:
    try:
        site = site_for_key(key)
    except SiteNotFound:
        raise Refused("no enabled site has that key") from None
    try:
        visitor, named = visitor_with_token(site=site, token=token)
    except BadToken as bad:
        raise Refused(str(bad), code=ErrorCode.UNAUTHENTICATED, close_code=CLOSE_TOKEN_EXPIRED) from None
    except VerificationRequired:
        raise Refused(
            "this site accepts verified visitors only",
            code=ErrorCode.VERIFICATION_REQUIRED,
            close_code=CLOSE_RIGHTS_REVOKED,
        ) from None
    return ChatPrincipal(
        user_id=visitor.user_id,
        tenant_id=site.tenant_id,
        tenant_slug=site.tenant.slug,
        role=VISITOR_ROLE,
        expires_at=named.expires_at,
        subprotocol=subprotocol,
        login_id=None,
        by_token=True,
        access_sql=visitor_access_sql(),
        visitor=visitor_limits(site, address),
    )


class WidgetConsumer(ChatConsumer):
    async def socket_open(self) -> OpenSocket:
        return await socket_open(self.scope, visitor_principal)

    async def _send(self, frame: Frame) -> None:
        await super()._send(for_visitor(frame))

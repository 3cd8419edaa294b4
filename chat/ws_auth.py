"""Who is on the other end of a chat WebSocket, decided before the handshake completes.

A simplejwt access token (offered as the ``bearer.<token>`` subprotocol, or ``?token=``) or
the Django session of the chat page (Origin checked, tenant chosen in the session); either way
the user needs an active membership of an active tenant. Or a tenant's server with an API key of
``chat`` scope (``Authorization: Bearer cpk_…``, the one place a key is read) chatting for an end
user it names (``?end_user=``), who gets an account of their own (``tenants.end_users``).
Anything else is refused: the consumer closes before accepting, which Daphne answers with HTTP
403. A database that cannot be reached raises one of ``infra.db.DATABASE_DOWN`` (the consumer
answers close 1013).
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import get_user
from django.conf import settings
from django.http.request import validate_host
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from billing.admission import VisitorLimits
from chat.protocol import CLOSE_TOO_MANY_CONNECTIONS, ErrorCode
from infra.db import in_db_thread
from infra.proxies import scope_address
from tenants.api_keys import KEY_START, KeyInvalid, key_authenticate, key_login_id
from tenants.end_users import EndUserInvalid, TooManyEndUsers, end_user_access_sql, end_user_for
from tenants.logins import LOGIN_CLAIM, session_login_id, token_still_valid
from tenants.models import ApiKeyScope, Membership, Role
from tenants.selectors import active_membership, session_membership

SUBPROTOCOL = "chat.v1"
BEARER_PREFIX = "bearer."
# The query parameter an API key's socket names its end user with.
END_USER_PARAM = "end_user"


@dataclass(frozen=True, slots=True)
class ChatPrincipal:
    user_id: int
    tenant_id: int
    tenant_slug: str
    role: str  # at connect time: a change closes the socket (chat.revocation)
    # Unix time at which the access token or the session expires (closed with 4401 then).
    expires_at: float | None
    subprotocol: str | None
    # The sign-in (``tenants.logins``): its logout closes the socket. None for a token without one.
    login_id: str | None
    by_token: bool
    # A widget visitor (``widget.visitor_socket``): their rights' SQL and limits (ChatSession's).
    access_sql: str | None = None
    visitor: VisitorLimits | None = None
    # An API key's socket (its end user's): the key's revocation closes it (``chat.revocation``).
    key_id: int | None = None


class Refused(Exception):
    """The handshake is refused; the reason is logged, never told to the client. With a
    ``close_code``, the socket is accepted only to tell it (an ``error`` frame with ``code``) and
    close: for a widget visitor, whose page must know to fetch a new visitor token."""

    def __init__(self, reason: str, *, code: ErrorCode | None = None, close_code: int | None = None) -> None:
        super().__init__(reason)
        self.code, self.close_code = code, close_code


async def authenticate(scope: dict[str, Any]) -> ChatPrincipal:
    subprotocol, token = offered_token(scope)
    key = _key_in(scope)
    if key is not None:
        if token is not None:
            raise Refused("an API key and a token: one credential at a time")
        return await in_db_thread(_from_key)(key, scope, subprotocol)
    if token is not None:
        return await _from_token(token, subprotocol)
    return await _from_session(scope, subprotocol)


def _key_in(scope: dict[str, Any]) -> str | None:
    """An API key, from the one place one is read: ``Authorization: Bearer cpk_…``."""
    value = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    scheme, _, credential = value.partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential.startswith(KEY_START) else None


def _from_key(raw: str, scope: dict[str, Any], subprotocol: str | None) -> ChatPrincipal:
    """A tenant's server chatting for one of its people: the key (``chat`` scope) and the end
    user it names (``?end_user=<its id for them>``), who chats with a member's limits."""
    try:
        key, _ = key_authenticate(raw, scope_address(scope))
    except KeyInvalid as invalid:
        raise Refused(str(invalid)) from None
    if ApiKeyScope.CHAT not in key.scopes:
        raise Refused("this API key lacks the 'chat' scope")
    named = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(END_USER_PARAM, [""])[0]
    try:
        end_user = end_user_for(tenant_id=key.tenant_id, external_id=named, key_id=key.pk)
    except EndUserInvalid as invalid:
        raise Refused(str(invalid)) from None
    except TooManyEndUsers as many:
        raise Refused(str(many), code=ErrorCode.RATE_LIMITED, close_code=CLOSE_TOO_MANY_CONNECTIONS) from None
    return ChatPrincipal(
        user_id=end_user.user_id,
        tenant_id=key.tenant_id,
        tenant_slug=key.tenant.slug,
        role=Role.MEMBER,
        expires_at=key.expires_at.timestamp() if key.expires_at is not None else None,
        subprotocol=subprotocol,
        login_id=key_login_id(key.pk),
        by_token=True,
        access_sql=end_user_access_sql(key.pk),
        key_id=key.pk,
    )


def offered_token(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """The subprotocol to accept and the token the client offered (``bearer.<token>`` with
    ``chat.v1``, or ``?token=``), if any."""
    offered: list[str] = list(scope.get("subprotocols") or [])
    if any(p.startswith(BEARER_PREFIX) for p in offered) and SUBPROTOCOL not in offered:
        raise Refused(f"a bearer subprotocol needs {SUBPROTOCOL!r} offered with it")
    return (SUBPROTOCOL if SUBPROTOCOL in offered else None), _token_in(scope, offered)


def _token_in(scope: dict[str, Any], offered: list[str]) -> str | None:
    for protocol in offered:
        if protocol.startswith(BEARER_PREFIX):
            return protocol[len(BEARER_PREFIX) :]
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


async def _from_token(raw: str, subprotocol: str | None) -> ChatPrincipal:
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]
    except TokenError as exc:
        raise Refused(f"bad token: {exc}") from None
    tenant_slug = token.get("tenant")
    user_id = token.get("user_id")
    if not isinstance(tenant_slug, str) or user_id is None:
        raise Refused("token carries no tenant")
    membership = await in_db_thread(_token_membership)(token, user_id=int(user_id), tenant_slug=tenant_slug)
    if membership is None:
        raise Refused("no active membership of an active tenant, or the sign-in ended")
    return ChatPrincipal(
        user_id=membership.user_id,
        tenant_id=membership.tenant_id,
        tenant_slug=tenant_slug,
        role=membership.role,
        expires_at=float(token["exp"]),
        subprotocol=subprotocol,
        login_id=token.get(LOGIN_CLAIM),
        by_token=True,
    )


def _token_membership(token: AccessToken, *, user_id: int, tenant_slug: str) -> Membership | None:
    membership = active_membership(user_id=user_id, tenant_slug=tenant_slug)
    return membership if membership is not None and token_still_valid(token, membership.user) else None


async def _from_session(scope: dict[str, Any], subprotocol: str | None) -> ChatPrincipal:
    if not origin_allowed(scope):
        raise Refused("session connection from a foreign Origin")
    user = await get_user(scope) if "session" in scope else None
    if user is None or not user.is_authenticated:
        raise Refused("no token and no logged-in session")
    session = scope["session"]
    membership, expires_at = await in_db_thread(_session_membership)(session, user_id=user.pk)
    if membership is None or not session.session_key:
        raise Refused("session has no tenant with an active membership")
    return ChatPrincipal(
        user_id=membership.user_id,
        tenant_id=membership.tenant_id,
        tenant_slug=membership.tenant.slug,
        role=membership.role,
        expires_at=expires_at,
        subprotocol=subprotocol,
        login_id=session_login_id(session.session_key),
        by_token=False,
    )


def _session_membership(session: Any, *, user_id: int) -> tuple[Membership | None, float]:
    """The session's membership, and when the session expires (its socket closes then)."""
    return session_membership(session=session, user_id=user_id), session.get_expiry_date().timestamp()


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Same-origin (Origin matches Host, and the host is one we serve), or explicitly allowed.

    Cookies ride along on cross-site WebSocket handshakes, so without this check any web page
    could chat in the name of a logged-in user.
    """
    origin = dict(scope.get("headers") or []).get(b"origin", b"").decode("latin-1")
    return bool(origin) and (origin in settings.CHAT_ALLOWED_ORIGINS or same_origin(scope))


def same_origin(scope: dict[str, Any]) -> bool:
    """The handshake comes from a page of this platform (Origin is the Host we serve)."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1")
    parsed = urlsplit(origin)
    host = headers.get(b"host", b"").decode("latin-1")
    return (
        parsed.scheme in {"http", "https"}
        and parsed.netloc == host
        and validate_host(parsed.hostname or "", settings.ALLOWED_HOSTS)
    )

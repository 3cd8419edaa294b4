"""Reads for the widget: a site by its public key, a visitor's rights and limits, their own
conversations (a visitor reads nothing else)."""

import functools
import re
from typing import Any

from billing.admission import VisitorLimits
from chat.models import Conversation, Message
from chat.selectors import ConversationNotFound, agent_name, conversation_for_user
from tenants.models import Tenant
from widget.identity import BadToken, VisitorPass, visitor_pass
from widget.models import Site, Visitor

VISITOR_ROLE = "visitor"
_KEY = re.compile(r"site_[A-Za-z0-9_-]{1,35}")


class SiteNotFound(Exception):
    """No enabled site of an active tenant has that key."""


def site_for_key(key: object) -> Site:
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise SiteNotFound(key)
    # A deliberate cross-tenant read: the public key is what names the tenant.
    site = Site.objects.unscoped().select_related("tenant").filter(key=key).first()
    if site is None or not site.enabled or not site.tenant.active:
        raise SiteNotFound(key)
    return site


class VerificationRequired(Exception):
    """The site accepts verified visitors only, and this one is anonymous."""


def visitor_with_token(*, site: Site, token: object) -> tuple[Visitor, VisitorPass]:
    """The visitor ``token`` names on ``site`` (the HTTP endpoints' and the socket's one check):
    ``BadToken`` when it is not a valid token of this site or its visitor is gone,
    ``VerificationRequired`` for an anonymous visitor of a site that wants verified ones."""
    named = visitor_pass(token, site_id=site.pk)
    visitor = Visitor.objects.for_tenant(site.tenant_id).filter(pk=named.visitor_id, site=site).first()
    if visitor is None:
        raise BadToken("no such visitor")
    if site.require_verification and not visitor.verified:
        raise VerificationRequired()
    return visitor, named


@functools.cache
def visitor_access_sql() -> str:
    """A visitor's rights, checked with every message as a member's are (``chat_access_sql``'s
    columns and parameters: tenant id, user id): one row while the visitor exists, their site is
    enabled, the tenant active, and the visitor verified if the site requires it."""
    return (
        f"SELECT '{VISITOR_ROLE}' AS role, NULL AS budget, t.knowledge_version "  # noqa: S608 (table names from the models)
        f"FROM {Visitor._meta.db_table} v "
        f"JOIN {Site._meta.db_table} s ON s.id = v.site_id "
        f"JOIN {Tenant._meta.db_table} t ON t.id = v.tenant_id "
        "WHERE v.tenant_id = %s AND v.user_id = %s AND s.enabled AND t.active "
        "AND (v.external_id <> '' OR NOT s.require_verification)"
    )


def visitor_limits(site: Site, address: str) -> VisitorLimits:
    return VisitorLimits(
        site_id=site.pk,
        address=address,
        messages_per_minute=site.visitor_messages_per_minute,
        conversations_per_hour=site.visitor_conversations_per_hour,
        address_messages_per_minute=site.address_messages_per_minute,
        address_conversations_per_hour=site.address_conversations_per_hour,
        daily_message_cap=site.daily_message_cap,
    )


def visitor_conversations(visitor: Visitor, *, limit: int = 20) -> list[dict[str, Any]]:
    """The visitor's conversations, the latest first."""
    rows = (
        Conversation.objects.for_tenant(visitor.tenant_id)
        .filter(user_id=visitor.user_id, deleted_at__isnull=True)
        .order_by("-last_message_at", "-id")[:limit]
    )
    return [
        {
            "id": c.pk,
            "title": c.title,
            "started_at": c.started_at.isoformat(),
            "last_message_at": c.last_message_at.isoformat() if c.last_message_at else None,
            "escalated": c.escalated,
            "handoff": c.handoff or "bot",
        }
        for c in rows
    ]


def visitor_transcript(visitor: Visitor, *, conversation_id: int) -> list[dict[str, Any]] | None:
    """The messages of one of the visitor's own conversations, oldest first (None: not theirs,
    or no such conversation: the same answer). No model, tokens or cost: those are members'."""
    try:
        conversation_for_user(
            tenant_id=visitor.tenant_id, user_id=visitor.user_id, conversation_id=conversation_id
        )
    except ConversationNotFound:
        return None
    messages = Message.objects.for_tenant(visitor.tenant_id).filter(
        conversation_id=conversation_id, replaced_by__isnull=True
    )
    return [
        {
            "id": m.pk,
            "role": m.role,
            "content": m.content,
            "created_at": m.created_at.isoformat(),
            "finish_reason": m.finish_reason,
            "sources": m.sources,
            "rating": m.rating,
            "client_id": str(m.client_id) if m.client_id else None,
            "agent": agent_name(m.author) if m.author is not None else None,
        }
        for m in messages.select_related("author").order_by("id")
    ]

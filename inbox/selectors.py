"""What the support team's inbox shows: the tenant's conversations handed to a human, waiting or
held, newest request first, with who asked (a member, or a widget visitor with the name and
e-mail the tenant's server gave), what the conversation cost and its CSAT."""

from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import QuerySet, Sum

from chat.models import Conversation, Handoff
from widget.models import Visitor

View = Literal["mine", "unassigned", "all"]
VIEWS: tuple[View, ...] = ("mine", "unassigned", "all")


@dataclass(frozen=True, slots=True)
class InboxQuery:
    tenant_id: int
    agent_id: int
    view: View = "all"


def inbox_conversations(query: InboxQuery) -> QuerySet[Conversation]:
    conversations = (
        Conversation.objects.for_tenant(query.tenant_id)
        .filter(handoff__in=(Handoff.WAITING, Handoff.HUMAN), deleted_at__isnull=True)
        .select_related("user", "assignee")
        .annotate(cost=Sum("messages__cost_usd"))
    )
    if query.view == "mine":
        conversations = conversations.filter(assignee_id=query.agent_id)
    elif query.view == "unassigned":
        conversations = conversations.filter(assignee__isnull=True)
    return conversations.order_by("-escalated_at", "-id")


def who_asked(tenant_id: int, conversations: list[Conversation]) -> dict[int, dict[str, Any]]:
    """Per user id: a member (their username) or a visitor (their site, name, e-mail, verified)."""
    user_ids = {c.user_id for c in conversations}
    visitors = {
        v.user_id: v
        for v in Visitor.objects.for_tenant(tenant_id).filter(user_id__in=user_ids).select_related("site")
    }
    people: dict[int, dict[str, Any]] = {}
    for c in conversations:
        visitor = visitors.get(c.user_id)
        if visitor is None:
            people[c.user_id] = {"kind": "member", "name": c.user.username}
        else:
            people[c.user_id] = {
                "kind": "visitor",
                "name": visitor.name or str(visitor),
                "email": visitor.email,
                "verified": visitor.verified,
                "site": visitor.site.name if visitor.site is not None else None,
            }
    return people
